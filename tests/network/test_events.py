"""RPC ingest: CAP-67 events to watched accounts as the same rows Horizon's records give."""

import base64
import datetime as dt
from decimal import Decimal

import pytest
from stellar_sdk import (
    Account,
    Asset,
    HashMemo,
    IdMemo,
    Keypair,
    MuxedAccount,
    ReturnHashMemo,
    TextMemo,
    TransactionBuilder,
    scval,
    xdr,
)
from stellar_sdk.soroban_rpc import EventInfo

from anchor_dramatiq.network import rpc_events
from anchor_dramatiq.network.answers import Gap, PaymentPage
from anchor_dramatiq.network.horizon import HorizonNetwork
from anchor_dramatiq.network.rpc import RpcNetwork
from anchor_dramatiq.paging import event_id, ledger_of, toid
from simnet import Simnet

from .conftest import rpc_url

PASSPHRASE = "Standalone Network ; February 2017"
ISSUER = Keypair.random()
USD = Asset("USD", ISSUER.public_key)
WATCHED = Keypair.random().public_key
SENDER = Keypair.random()


def envelope(destination: str, memo=None) -> tuple[str, str]:
    builder = TransactionBuilder(Account(SENDER.public_key, 41), PASSPHRASE, 100)
    builder.append_payment_op(destination, USD, "12.5")
    if memo is not None:
        builder.add_memo(memo)
    tx = builder.set_timeout(60).build()
    tx.sign(SENDER)
    return tx.to_xdr(), tx.hash_hex()


def event(value: xdr.SCVal, tx_hash: str, contract_id: str | None = None, to: str = WATCHED,
          kind: str = "transfer") -> EventInfo:
    topics = [scval.to_symbol(kind)]
    if kind == "transfer":
        topics.append(scval.to_address(SENDER.public_key))
    topics += [scval.to_address(to), scval.to_string(f"USD:{ISSUER.public_key}")]
    ledger, tx_index, op_index = 7, 2, 0
    return EventInfo.model_validate({
        "type": "contract", "ledger": ledger, "ledgerClosedAt": "2026-11-30T08:00:00Z",
        "contractId": contract_id or USD.contract_id(PASSPHRASE),
        "id": event_id(ledger, tx_index, op_index, 1),
        "topic": [t.to_xdr() for t in topics], "value": value.to_xdr(),
        "operationIndex": op_index, "transactionIndex": tx_index, "txHash": tx_hash})


def muxed_map(muxed_id: xdr.SCVal) -> xdr.SCVal:
    return scval.to_map({scval.to_symbol("amount"): scval.to_int128(125_000_000),
                         scval.to_symbol("to_muxed_id"): muxed_id})


def no_read(tx_hash: str) -> str | None:
    raise AssertionError("the event carried everything; no transaction read")


def test_text_memo_from_the_event_map():
    _, tx_hash = envelope(WATCHED)
    row = rpc_events.payment_row(event(muxed_map(scval.to_string("ref 42")), tx_hash),
                                 frozenset({WATCHED}), PASSPHRASE, no_read)
    assert row is not None
    assert (row["memo"], row["memo_type"], row["to_muxed_id"]) == ("ref 42", "text", None)
    assert row["amount"] == Decimal("12.5000000") and row["asset_code"] == "USD"
    assert row["asset_issuer"] == ISSUER.public_key and row["operation_type"] == "payment"
    assert row["operation_id"] == str(toid(7, 2, 1)) and row["ledger"] == 7
    assert row["from_address"] == SENDER.public_key and row["successful"] is True
    assert row["created_at"] == dt.datetime(2026, 11, 30, 8, tzinfo=dt.UTC)


def test_hash_memo_from_the_event_map():
    _, tx_hash = envelope(WATCHED)
    digest = bytes(range(32))
    row = rpc_events.payment_row(event(muxed_map(scval.to_bytes(digest)), tx_hash),
                                 frozenset({WATCHED}), PASSPHRASE, no_read)
    assert row is not None and row["memo_type"] == "hash"
    assert row["memo"] == base64.b64encode(digest).decode()


def test_id_memo_u64_is_settled_by_the_transaction():
    """A u64 may be a muxed id or an id memo: the envelope says which."""
    env, tx_hash = envelope(WATCHED, memo=IdMemo(77))
    row = rpc_events.payment_row(event(muxed_map(scval.to_uint64(77)), tx_hash),
                                 frozenset({WATCHED}), PASSPHRASE, lambda h: env)
    assert row is not None
    assert (row["memo"], row["memo_type"], row["to_muxed"], row["to_muxed_id"]) == ("77", "id", None, None)


def test_muxed_destination_u64_is_settled_by_the_transaction():
    muxed = MuxedAccount(WATCHED, 9_000_000_000).account_muxed
    env, tx_hash = envelope(muxed)
    row = rpc_events.payment_row(event(muxed_map(scval.to_uint64(9_000_000_000)), tx_hash),
                                 frozenset({WATCHED}), PASSPHRASE, lambda h: env)
    assert row is not None
    assert (row["to_muxed"], row["to_muxed_id"], row["memo_type"]) == (muxed, "9000000000", "none")
    assert row["to_address"] == WATCHED


def test_plain_amount_reads_the_transaction_and_its_memo():
    env, tx_hash = envelope(WATCHED, memo=ReturnHashMemo(bytes(32)))
    row = rpc_events.payment_row(event(scval.to_int128(125_000_000), tx_hash),
                                 frozenset({WATCHED}), PASSPHRASE, lambda h: env)
    assert row is not None and row["memo_type"] == "return"


def test_an_unreadable_transaction_holds_the_page():
    _, tx_hash = envelope(WATCHED)
    with pytest.raises(rpc_events.Unreadable):
        rpc_events.payment_row(event(scval.to_int128(1), tx_hash), frozenset({WATCHED}),
                               PASSPHRASE, lambda h: None)


def test_an_event_not_from_the_assets_own_contract_is_only_a_claim():
    """A contract that is not USD's SAC emitting a USD-looking transfer moves no USD: a claim
    row naming that contract (for payments/forged.py to record rejected), never a credit."""
    event_info = event(muxed_map(scval.to_string("ref 42")), tx_hash := envelope(WATCHED)[1],
                       impostor := Asset("USD", Keypair.random().public_key).contract_id(PASSPHRASE))
    row = rpc_events.payment_row(event_info, frozenset({WATCHED}), PASSPHRASE, no_read)
    assert row is not None and row["forged_by"] == impostor
    assert (row["operation_id"], row["transaction_hash"]) == (event_info.id, tx_hash)
    assert (row["memo"], row["memo_type"], row["asset_code"]) == ("ref 42", "text", "USD")
    assert row["operation_type"] == "invoke_host_function" and "outcome" not in row


def test_an_issuer_payment_is_a_mint_from_the_issuer():
    _, tx_hash = envelope(WATCHED)
    row = rpc_events.payment_row(event(muxed_map(scval.to_string("m")), tx_hash, kind="mint"),
                                 frozenset({WATCHED}), PASSPHRASE, no_read)
    assert row is not None and row["from_address"] == ISSUER.public_key


def test_an_event_to_an_unwatched_account_is_not_a_row():
    _, tx_hash = envelope(WATCHED)
    other = Keypair.random().public_key
    assert rpc_events.payment_row(event(muxed_map(scval.to_string("x")), tx_hash, to=other),
                                  frozenset({WATCHED}), PASSPHRASE, no_read) is None


def test_filters_packed_for_30_accounts():
    """30 accounts, transfer and mint each: 60 topic filters, 3 requests of 5 x 5 at most."""
    accounts = [Keypair.random().public_key for _ in range(30)]
    requests = rpc_events.request_filters(accounts)
    assert len(requests) == 3
    assert all(len(filters) <= 5 and all(len(f.topics or []) <= 5 for f in filters)
               for filters in requests)
    named = {scval.from_address(xdr.SCVal.from_xdr(topic[2 if len(topic) == 4 else 1])).address
             for filters in requests for f in filters for topic in f.topics or []}
    assert named == set(accounts)


def test_event_ids_sort_as_text():
    ids = [event_id(9, 1, 0, 2), event_id(10, 1, 0, 0),
           event_id(9, 2, 0, 0), event_id(100, 1, 0, 0)]
    assert sorted(ids) == [ids[0], ids[2], ids[1], ids[3]]
    assert all(len(i) <= 32 for i in ids) and ledger_of(ids[3]) == 100


# ------------------------------------------------------------------ on simnet's RPC


def test_rpc_rows_equal_horizon_rows(sim, payer):
    """Each memo type and a muxed destination, paid on simnet, read from both APIs."""
    dist, user = payer.funded(), payer.funded()
    usd = payer.issue("USD", [dist, user])
    horizon = HorizonNetwork(sim.url)
    rpc = RpcNetwork(rpc_url(sim), sim.passphrase)
    start = rpc.incoming([dist.public_key], None)
    assert isinstance(start, PaymentPage)
    h_start = horizon.incoming([dist.public_key], None)
    assert isinstance(h_start, PaymentPage)
    muxed = MuxedAccount(dist.public_key, 12345).account_muxed
    for memo, to in ((TextMemo("t-1"), dist.public_key), (IdMemo(99), dist.public_key),
                     (HashMemo(bytes(range(32))), dist.public_key), (None, muxed)):
        payer.submit(user, lambda b, to=to: b.append_payment_op(to, usd, "3.25"), memo)
    sim.wait_for_ledgers(2)
    got = rpc.incoming([dist.public_key], start.cursor)
    want = horizon.incoming([dist.public_key], h_start.cursor)
    assert isinstance(got, PaymentPage) and isinstance(want, PaymentPage)
    ignore = {"paging_token", "record_json"}
    assert [{k: v for k, v in r.items() if k not in ignore} for r in got.rows] == \
        [{k: v for k, v in r.items() if k not in ignore} for r in want.rows]
    assert len(got.rows) == 4 and got.cursor > start.cursor
    again = rpc.incoming([dist.public_key], got.cursor)
    assert isinstance(again, PaymentPage) and again.rows == []
    horizon.close()
    rpc.close()


def test_payments_to_30_accounts_in_3_assets(sim, payer):
    accounts = [payer.funded() for _ in range(30)]
    user = payer.funded()
    assets = [payer.issue(code, [user, *accounts]) for code in ("AAA", "BBB", "CCC")]
    rpc = RpcNetwork(rpc_url(sim), sim.passphrase)
    start = rpc.incoming([a.public_key for a in accounts], None)
    assert isinstance(start, PaymentPage)
    for i, account in enumerate(accounts):
        payer.submit(user, lambda b, a=account, i=i: b.append_payment_op(
            a.public_key, assets[i % 3], "1"))
    sim.wait_for_ledgers(2)
    page = rpc.incoming([a.public_key for a in accounts], start.cursor)
    assert isinstance(page, PaymentPage)
    assert sorted(r["account"] for r in page.rows) == sorted(a.public_key for a in accounts)
    assert {r["asset_code"] for r in page.rows} == {"AAA", "BBB", "CCC"}
    rpc.close()


def test_a_cursor_older_than_retention_is_a_gap():
    with Simnet(ledger_interval=0.1, rpc_retention_window=5) as net:
        rpc = RpcNetwork(rpc_url(net), net.passphrase)
        old = event_id(2, 1, 0, 0)
        net.wait_for_ledgers(10)
        answer = rpc.incoming([Keypair.random().public_key], old)
        assert isinstance(answer, Gap)
        assert answer.after_ledger == 1 and answer.oldest_ledger > 2 and answer.cursor == old
        rpc.close()


def test_an_event_whose_transaction_the_node_no_longer_keeps_is_a_gap(sim, payer, monkeypatch):
    """A node keeping events longer than transactions: the memo of an id-memo payment cannot be
    read there any more. That is a gap to fill from history, never a page to skip or a
    connection to retry forever."""
    from anchor_dramatiq.network.answers import NoReply, NotFound

    dist, user = payer.funded(), payer.funded()
    usd = payer.issue("USD", [dist, user])
    rpc = RpcNetwork(rpc_url(sim), sim.passphrase)
    start = rpc.incoming([dist.public_key], None)
    assert isinstance(start, PaymentPage)
    payer.submit(user, lambda b: b.append_payment_op(dist.public_key, usd, "1"), IdMemo(7))
    sim.wait_for_ledgers(2)
    latest = sim.latest_ledger

    monkeypatch.setattr(rpc, "fate", lambda tx_hash: NotFound(tx_hash, latest, oldest_ledger=latest))
    gap = rpc.incoming([dist.public_key], start.cursor)
    assert isinstance(gap, Gap) and gap.cursor == start.cursor and gap.oldest_ledger == latest
    # A node that keeps it but did not answer now: look again, no gap.
    monkeypatch.setattr(rpc, "fate", lambda tx_hash: NoReply("getTransaction: 503"))
    assert isinstance(rpc.incoming([dist.public_key], start.cursor), NoReply)
    monkeypatch.undo()
    page = rpc.incoming([dist.public_key], start.cursor)
    assert isinstance(page, PaymentPage) and [r["memo"] for r in page.rows] == ["7"]
    rpc.close()
