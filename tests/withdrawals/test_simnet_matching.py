"""Payments made on simnet, recorded by the streamer core and matched: the real records' shapes,
read from Horizon and from Stellar RPC."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
from dramatiq.brokers.stub import StubBroker
from stellar_sdk import Asset as SdkAsset
from stellar_sdk import Keypair
from support.chain import Chain, StreamerThread
from support.factories import make_withdrawal

from anchor_dramatiq import config
from anchor_dramatiq.models import Cursor, Payment, Transaction
from anchor_dramatiq.paging import is_event_id
from anchor_dramatiq.payments.process import process_payment
from anchor_dramatiq.streaming.cursor import stream_status
from anchor_dramatiq.vocabulary import NetworkApi
from simnet import Simnet

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=list(NetworkApi), ids=str)
def chain(request: pytest.FixtureRequest, sim: Simnet, db: str) -> Chain:
    """The streamer reading Horizon's payments or RPC's events (same ledger, same rows)."""
    config.configure(config.get_settings().replace(
        horizon_url=sim.url, stream_silence_timeout=5.0, network_api=request.param,
        rpc_url=sim.url.rstrip("/") + "/rpc"))
    return Chain(sim)


def wait_for_payments(count: int, timeout: float = 20) -> list[Payment]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = list(Payment.select().order_by(Payment.id))
        if len(rows) >= count:
            return rows
        time.sleep(0.1)
    raise AssertionError(f"{Payment.select().count()} payments recorded, expected {count}")


def test_streamed_payments_match_or_say_why(chain: Chain) -> None:
    asset = chain.register()
    plain = make_withdrawal(asset, chain.account)  # hash memo, Polaris's default
    send = make_withdrawal(asset, chain.account, kind="send", protocol="sep31", memo="31", memo_type="id")
    muxed = make_withdrawal(asset, chain.account, memo="to-m")
    bumped = make_withdrawal(asset, chain.account, memo="bump")
    path = make_withdrawal(asset, chain.account, memo="path")
    issuer = make_withdrawal(asset, chain.account, memo="issuer")
    typed = make_withdrawal(asset, chain.account, memo="777", memo_type="id")
    failed = make_withdrawal(asset, chain.account, memo="failed")
    twice = make_withdrawal(asset, chain.account, memo="twice")
    chain.sim.set_rate(SdkAsset.native(), chain.usd, "0.5")

    broker = StubBroker()
    with StreamerThread(config.get_settings(), broker):
        deadline = time.monotonic() + 10
        while Cursor.get_or_none(Cursor.account == chain.account) is None:
            assert time.monotonic() < deadline, "streamer never pinned its start cursor"
            time.sleep(0.05)
        from stellar_sdk import HashMemo, IdMemo, TextMemo

        chain.pay("10.015", HashMemo(bytes.fromhex(plain.id.hex.rjust(64, "0"))))
        chain.pay("20", IdMemo(31))
        chain.pay("5", TextMemo("to-m"), destination=chain.muxed(9))
        chain.pay_fee_bumped("6", TextMemo("bump"))
        chain.submit(chain.user, lambda b: b.append_path_payment_strict_send_op(
            chain.account, SdkAsset.native(), "8", chain.usd, "1", []), TextMemo("path"))
        chain.pay("7", TextMemo("issuer"), asset=chain.fake_usd)
        chain.pay("7", TextMemo("777"))
        chain.pay_failing("3", TextMemo("failed"))
        chain.pay("1", TextMemo("twice"))
        chain.pay("2", TextMemo("twice"))
        chain.pay("4")  # no memo
        chain.submit(chain.user, lambda b: b.append_create_account_op(Keypair.random().public_key, "2"))
        rows = wait_for_payments(10)
    for row in rows:
        process_payment(row.operation_id)
    outcomes = {(p.memo, p.amount): (p.outcome, p.transaction_id) for p in Payment.select()}
    assert len(outcomes) == 10 and Payment.select().count() == 10
    assert outcomes[(plain.memo, Decimal("10.015"))] == ("matched", plain.id)
    assert outcomes[("31", Decimal("20"))] == ("matched", send.id)
    assert outcomes[("to-m", Decimal("5"))] == ("matched", muxed.id)
    assert outcomes[("bump", Decimal("6"))] == ("matched", bumped.id)
    assert outcomes[("path", Decimal("4"))] == ("matched", path.id)  # 8 XLM delivered as 4 USD
    assert outcomes[("issuer", Decimal("7"))] == ("rejected", None)
    assert outcomes[("777", Decimal("7"))] == ("rejected", None)
    assert outcomes[("twice", Decimal("1"))] == ("matched", twice.id)
    assert outcomes[("twice", Decimal("2"))] == ("unmatched", None)
    assert outcomes[(None, Decimal("4"))] == ("unmatched", None)

    def status(t: Transaction) -> str:
        return Transaction.get_by_id(t.id).status

    assert Transaction.get_by_id(plain.id).amount_in == Decimal("10.02")
    assert status(send) == "pending_receiver"
    assert {status(t) for t in (plain, muxed, bumped, path, twice)} == {"pending_anchor"}
    assert {status(t) for t in (issuer, typed, failed)} == {"pending_user_transfer_start"}
    assert Payment.get(Payment.memo == "to-m").to_muxed == chain.muxed(9)
    # every recorded payment was published for processing (in batches: RPC's pages are bigger)
    published = {operation_id for message in broker.queues["payments"].queue
                 for operation_id in json.loads(message)["args"][0]}
    assert published >= {row.operation_id for row in rows} and len(published) >= 10
    [state] = stream_status()
    assert state["account"] == chain.account and state["last_ledger"] >= rows[-1].ledger
    over_rpc = config.get_settings().network_api == NetworkApi.RPC
    # the source the settings name read them: RPC's cursors are event ids, Horizon's TOIDs
    assert {is_event_id(p.paging_token) for p in rows} == {over_rpc}
    assert is_event_id(state["paging_token"]) == over_rpc
