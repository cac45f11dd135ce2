"""The streamer over Stellar RPC on simnet: an event no asset contract of ours emitted (a forged
transfer of our asset: recorded rejected, never matched or refunded), a cursor
older than RPC's retention (filled from Horizon, or held without one), and the streamer
SIGKILLed mid-stream. Every payment recorded once, none skipped. And the reconcile sweep over
RPC, within and beyond the node's retention."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from dramatiq.brokers.stub import StubBroker
from stellar_sdk import Asset as SdkAsset
from stellar_sdk import IdMemo, Keypair, StrKey, TextMemo, scval
from support.chain import Chain, StreamerThread
from support.factories import make_withdrawal, payment_record
from support.processes import Process, streamer_argv, workers_argv
from support.services import free_port
from support.waiting import wait_until

from anchor_dramatiq import config
from anchor_dramatiq.cli import main
from anchor_dramatiq.errors import RefundRefused
from anchor_dramatiq.metrics import StreamMeter
from anchor_dramatiq.models import Cursor, Payment, Refund, Transaction
from anchor_dramatiq.paging import event_id, is_event_id
from anchor_dramatiq.payments.forged import rejected_claims
from anchor_dramatiq.payments.process import process_payment, process_payments
from anchor_dramatiq.payments.reconcile import reconcile_configured
from anchor_dramatiq.payments.records import insert_payments, payment_fields
from anchor_dramatiq.payments.refunds import request_refund
from anchor_dramatiq.streaming.cursor import pin_cursor
from anchor_dramatiq.vocabulary import NetworkApi, PaymentOutcome, TransactionStatus
from simnet import Simnet

from .test_reliability import assert_each_paid_once, pay_all, rails_log_of, setup_withdrawals, start_streaming

pytestmark = pytest.mark.timeout(180)

WINDOW = 25  # ledgers the short-memory RPC keeps: 5 s at 0.2 s a ledger, longer than a poll
GAP_LOGGER = "anchor_dramatiq.streaming.rpc_source"


def rpc_url(sim: Simnet) -> str:
    return sim.url.rstrip("/") + "/rpc"


def stream_over_rpc(sim: Simnet, horizon_url: str | None = None) -> None:
    config.configure(config.get_settings().replace(
        network_api=NetworkApi.RPC.value, rpc_url=rpc_url(sim), horizon_url=horizon_url or sim.url,
        stream_silence_timeout=5.0))


@pytest.fixture
def short_sim() -> Iterator[Simnet]:
    """simnet whose RPC keeps only :data:`WINDOW` ledgers (stellar-rpc keeps 7 days)."""
    with Simnet(ledger_interval=0.2, stream_timeout=5.0, rpc_retention_window=WINDOW) as net:
        yield net


class GapCalls(StreamMeter):
    """The stream meter, remembering each gap figure it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int, bool]] = []

    def gap(self, account: str, ledgers: int, held: bool) -> None:
        self.calls.append((ledgers, held))
        super().gap(account, ledgers, held)


def streamer(meter: StreamMeter) -> StreamerThread:
    thread = StreamerThread(config.get_settings(), StubBroker())
    thread.streamer.meter = meter
    return thread


def sample(metric: Any, account: str) -> float:
    return metric.labels(account)._value.get()


def cursor_of(account: str) -> Cursor:
    return Cursor.get(Cursor.account == account)


def payments_to(sim: Simnet, account: str) -> set[str]:
    """The operation ids of every payment to ``account``, as Horizon lists them."""
    return {p["id"] for p in sim.payments(account)
            if p.get("type") == "payment" and p.get("to") == account}


def pay_before_the_window(sim: Simnet, chain: Chain) -> str:
    """Pin an RPC cursor, pay three ways after it, and let RPC's window pass them all."""
    pinned = pin_cursor(chain.account, event_id(sim.latest_ledger))
    chain.pay("10", TextMemo("gap"))
    chain.pay("20", IdMemo(31))
    chain.pay("5", TextMemo("to-m"), destination=chain.muxed(9))
    sim.wait_for_ledgers(WINDOW + 5)
    return pinned


def inject_transfer(sim: Simnet, chain: Chain, contract: str, asset: str, memo: str) -> int:
    """A ``transfer`` of 10 ``asset`` to the watched account carrying a text memo, emitted by
    ``contract`` (simnet's raw injection: its shortcut carries no text memo); its ledger."""
    value = scval.to_map({scval.to_symbol("amount"): scval.to_int128(10 * 10**7),
                          scval.to_symbol("to_muxed_id"): scval.to_string(memo)})
    topics = [scval.to_symbol("transfer"), scval.to_address(chain.user.public_key),
              scval.to_address(chain.account), scval.to_string(asset)]
    answer = requests.post(sim.url + "/_simnet/rpc/events", timeout=10, json={
        "contract_id": contract, "topics": [t.to_xdr() for t in topics], "value": value.to_xdr()})
    return int(answer.json()["ledger"])


def test_a_forged_event_naming_our_asset_is_recorded_rejected_and_never_refunded(
        sim: Simnet, db: str) -> None:
    """Another contract's transfer naming our asset (and one naming our code with another
    issuer), to the watched account with the waiting withdrawal's memo: recorded ``rejected``
    at once with both contract ids, never matched, refused by every refund path; one naming an
    asset we do not have is only counted. The real payment after them matches."""
    chain = Chain(sim)
    asset = chain.register()
    withdrawal = make_withdrawal(asset, chain.account, memo="w-forged")
    stream_over_rpc(sim)
    meter = StreamMeter()
    ours = f"USD:{chain.issuer.public_key}"
    sac = SdkAsset("USD", chain.issuer.public_key).contract_id(sim.passphrase)
    forger, lookalike, stranger = (StrKey.encode_contract(os.urandom(32)) for _ in range(3))
    with streamer(meter):
        wait_until(lambda: Cursor.get_or_none(Cursor.account == chain.account), 20,
                   "the streamer to pin its cursor")
        inject_transfer(sim, chain, forger, ours, "w-forged")
        inject_transfer(sim, chain, lookalike, f"USD:{Keypair.random().public_key}", "w-forged")
        injected = inject_transfer(sim, chain, stranger, f"XYZ:{chain.issuer.public_key}", "w-forged")
        paid = chain.pay("10", TextMemo("w-forged"))
        assert paid["ledger"] >= injected
        wait_until(lambda: Payment.select().count() >= 3 and
                   cursor_of(chain.account).last_ledger >= paid["ledger"], 30,
                   "the claims and the real payment recorded")
    forged = {p.forged_by: p for p in Payment.select().where(Payment.forged_by.is_null(False))}
    assert set(forged) == {forger, lookalike}  # the stranger's asset is not ours: not recorded
    assert sample(meter.ignored_events, chain.account) >= 1
    for contract, row in forged.items():
        assert row.outcome == PaymentOutcome.REJECTED and row.processed_at is not None
        assert row.published_at is None  # never sent to the matcher
        assert contract in row.reason and sac in row.reason, row.reason
        assert (row.memo, row.amount, row.transaction_id) == ("w-forged", Decimal("10"), None)
    row = forged[forger]
    # the matcher leaves it alone; the withdrawal with its memo waits on
    assert process_payments([row.operation_id]).matched == {}
    assert Payment.get_by_id(row.id).outcome == PaymentOutcome.REJECTED
    assert Transaction.get_by_id(withdrawal.id).status == TransactionStatus.PENDING_USER_TRANSFER_START
    # no refund, whoever asks: an operator, the ANCHOR_REFUND_REJECTED policy
    config.configure(config.get_settings().replace(refund_rejected=True))
    refused = CliRunner().invoke(main, ["payments", "refund", row.operation_id])
    assert refused.exit_code != 0 and "forged event" in refused.output, refused.output
    assert forger in refused.output
    with pytest.raises(RefundRefused, match="real money for nothing"):
        request_refund(row.operation_id, None, "ANCHOR_REFUND_REJECTED")
    assert Refund.select().count() == 0
    # the real payment after it matches the withdrawal
    [real] = Payment.select().where(Payment.forged_by.is_null())
    assert (real.transaction_hash, real.asset_issuer) == (paid["hash"], chain.issuer.public_key)
    process_payment(real.operation_id)
    assert Payment.get_by_id(real.id).outcome == PaymentOutcome.MATCHED
    assert Transaction.get_by_id(withdrawal.id).status == TransactionStatus.PENDING_ANCHOR


def test_a_forged_row_keeps_its_outcome_when_written_with_streamed_rows(db: str) -> None:
    """One batch holding a payment and a forged claim after it: the claim's own columns
    (outcome, reason, forged_by) are written, not dropped for the first row's columns."""
    account = Keypair.random().public_key
    real = payment_fields(payment_record(account, memo="m"), account)
    contract = StrKey.encode_contract(os.urandom(32))
    claim = {**real, "operation_id": event_id(7), "forged_by": contract}
    [forged], ignored = rejected_claims(
        [{**claim, "record_json": json.dumps({"event": {"asset": f"USD:{real['asset_issuer']}"}})}],
        [("USD", Keypair.random().public_key)], "Test SDF Network ; September 2015")
    assert ignored == 0
    assert sorted(insert_payments([real, forged])) == sorted([real["operation_id"], event_id(7)])
    row = Payment.get(Payment.operation_id == event_id(7))
    assert (row.outcome, row.forged_by) == (PaymentOutcome.REJECTED, contract)
    assert row.reason is not None and contract in row.reason
    assert Payment.get(Payment.operation_id == real["operation_id"]).outcome == PaymentOutcome.PENDING


def test_back_on_horizon_from_a_cursor_rpc_stored(sim: Simnet, db: str) -> None:
    """An anchor that streamed over RPC and switches back: Horizon resumes from the event id."""
    chain = Chain(sim)
    chain.register()
    pin_cursor(chain.account, event_id(sim.latest_ledger))
    chain.pay("10", TextMemo("after the switch"))
    config.configure(config.get_settings().replace(horizon_url=sim.url, stream_silence_timeout=5.0))
    with streamer(StreamMeter()):
        wait_until(lambda: Payment.select().count() >= 1, 30, "the payment recorded")
        wait_until(lambda: not is_event_id(cursor_of(chain.account).paging_token), 30,
                   "the cursor in Horizon's form")
    [row] = Payment.select()
    assert row.memo == "after the switch" and not is_event_id(row.paging_token)


def test_a_cursor_older_than_retention_is_filled_from_horizon(short_sim: Simnet, db: str,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    chain = Chain(short_sim)
    asset = chain.register()
    withdrawal = make_withdrawal(asset, chain.account, memo="gap")
    pinned = pay_before_the_window(short_sim, chain)
    stream_over_rpc(short_sim)
    meter = GapCalls()
    with caplog.at_level(logging.ERROR, logger=GAP_LOGGER), streamer(meter):
        wait_until(lambda: Payment.select().count() >= 3, 30, "the gap's payments recorded")
        live = chain.pay("1", TextMemo("live"))  # after the gap: read over RPC again
        wait_until(lambda: Payment.select().count() >= 4, 30, "the live payment recorded")
        wait_until(lambda: cursor_of(chain.account).gap is None
                   and is_event_id(cursor_of(chain.account).paging_token), 30,
                   "the stream back on RPC with an event cursor")
    assert {p.operation_id for p in Payment.select()} == payments_to(short_sim, chain.account)
    assert Payment.select().count() == 4  # each once, across the switch and back
    live_row = Payment.get(Payment.transaction_hash == live["hash"])
    assert is_event_id(live_row.paging_token)  # read over RPC, where the gap's came from Horizon
    assert not any(is_event_id(p.paging_token) for p in Payment.select() if p.id != live_row.id)
    gap_logs = [r for r in caplog.records if "older than the RPC node keeps" in r.getMessage()]
    assert gap_logs and gap_logs[0].levelno == logging.ERROR and pinned in gap_logs[0].getMessage()
    assert meter.calls[0][0] > 0 and not meter.calls[0][1]  # the gap's size, not held
    assert meter.calls[-1] == (0, False) and sample(meter.gap_ledgers, chain.account) == 0
    # recorded from Horizon's history, matched exactly as a streamed payment
    process_payment(Payment.get(Payment.memo == "gap").operation_id)
    assert Transaction.get_by_id(withdrawal.id).status == "pending_anchor"


def test_without_horizon_the_account_is_held_and_nothing_skipped(
        short_sim: Simnet, db: str, caplog: pytest.LogCaptureFixture) -> None:
    chain = Chain(short_sim)
    chain.register()
    pinned = pay_before_the_window(short_sim, chain)
    stream_over_rpc(short_sim, horizon_url=f"http://127.0.0.1:{free_port()}")  # nothing there
    meter = GapCalls()

    def holds() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "held" in r.getMessage()
                and r.name == GAP_LOGGER and r.levelno == logging.ERROR]

    with caplog.at_level(logging.ERROR, logger=GAP_LOGGER), streamer(meter):
        wait_until(lambda: (cursor_of(chain.account).gap or "").startswith("held:"), 30,
                   "the account held with its reason")
        chain.pay("2", TextMemo("after"))  # past the gap: must wait for it
        wait_until(lambda: len(holds()) >= 2, 30, "the held stream to try again")
        status = CliRunner().invoke(main, ["status", "--no-horizon"])
        assert sample(meter.held, chain.account) == 1 and sample(meter.gap_ledgers, chain.account) > 0
    assert Payment.select().count() == 0 and cursor_of(chain.account).paging_token == pinned
    assert status.exit_code == 0, status.output
    assert "GAP held:" in status.output and "no Horizon answered" in status.output
    assert pinned in status.output
    # the operator points ANCHOR_HORIZON_URL at a Horizon with that history: all of it arrives
    stream_over_rpc(short_sim)
    with streamer(GapCalls()):
        wait_until(lambda: Payment.select().count() >= 4, 30, "every payment recorded")
        wait_until(lambda: cursor_of(chain.account).gap is None, 30, "the gap cleared")
    assert {p.operation_id for p in Payment.select()} == payments_to(short_sim, chain.account)


@pytest.mark.services
def test_rpc_streamer_sigkilled_and_restarted_mid_stream(
        sim: Simnet, process_env: dict[str, str], start: Callable[..., Process]) -> None:
    env = {**process_env, "ANCHOR_NETWORK_API": NetworkApi.RPC.value, "ANCHOR_RPC_URL": rpc_url(sim)}
    chain, withdrawals = setup_withdrawals(sim)
    start(workers_argv(processes=1, threads=4), env, "workers")
    first = start_streaming(start, env, chain.account)
    restarted: list[Process] = []

    def kill_midway(i: int) -> None:
        if i == 1:
            wait_until(lambda: Payment.select().count() >= 1, 20, "a payment to be recorded")
            first.kill()
        if i == 3:
            restarted.append(start(streamer_argv(), env, "streamer"))

    pay_all(chain, withdrawals, kill_midway)
    assert_each_paid_once(withdrawals, rails_log_of(env))
    assert "streaming payments of" in restarted[0].log()
    assert all(is_event_id(p.paging_token) for p in Payment.select())


def test_reconcile_over_rpc_records_what_the_stream_missed(sim: Simnet, db: str) -> None:
    chain = Chain(sim)
    asset = chain.register()
    withdrawal = make_withdrawal(asset, chain.account, memo="rec")
    chain.pay("10", TextMemo("rec"))
    chain.pay("4", TextMemo("other"), destination=chain.muxed(3))
    stream_over_rpc(sim)
    recorded = reconcile_configured(config.get_settings(), [chain.account])
    assert set(recorded) == payments_to(sim, chain.account) and len(recorded) == 2
    assert all(is_event_id(p.paging_token) for p in Payment.select())  # read over RPC
    assert reconcile_configured(config.get_settings(), [chain.account]) == []  # nothing new
    process_payment(Payment.get(Payment.memo == "rec").operation_id)
    assert Transaction.get_by_id(withdrawal.id).status == "pending_anchor"


def test_reconcile_over_rpc_reads_no_further_back_than_retention(
        short_sim: Simnet, db: str, caplog: pytest.LogCaptureFixture) -> None:
    """What RPC no longer keeps is the streamer's gap fill's to read, not this sweep's: it says
    where it starts and records what the node keeps."""
    chain = Chain(short_sim)
    asset = chain.register()
    make_withdrawal(asset, chain.account, memo="late")
    chain.pay("10", TextMemo("old"))
    short_sim.wait_for_ledgers(WINDOW + 5)
    recent = chain.pay("4", TextMemo("late"))
    stream_over_rpc(short_sim)
    with caplog.at_level(logging.WARNING, logger="anchor_dramatiq.payments.reconcile"):
        recorded = reconcile_configured(config.get_settings(), [chain.account])
    assert [Payment.get(Payment.operation_id == op).transaction_hash for op in recorded] == \
        [recent["hash"]]
    assert any("older than its retention" in r.getMessage() for r in caplog.records)
