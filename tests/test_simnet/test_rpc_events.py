"""CAP-67 unified events on simnet's /rpc: each classic movement encoded as the CAP writes it
(topics and values as ScVal XDR, the muxed/memo map), fee events, filters with the real
limits, paging by cursor, and an event from a contract that is not the asset's SAC."""

from __future__ import annotations

import hashlib

import pytest
import requests
from stellar_sdk import (
    Asset,
    Claimant,
    Keypair,
    MuxedAccount,
    SorobanServer,
    StrKey,
    TransactionBuilder,
    scval,
    xdr,
)
from stellar_sdk.exceptions import SorobanRpcErrorResponse
from stellar_sdk.soroban_rpc import EventFilter, EventFilterType, EventInfo

from simnet import Simnet

from .helpers import pay, trust


def _apply(rpc: SorobanServer, sim: Simnet, source: Keypair, *ops, memo=None) -> str:
    """Submit over RPC with an optional memo (a callable on the builder); wait; the hash."""
    builder = TransactionBuilder(rpc.load_account(source.public_key), sim.passphrase, 100)
    for op in ops:
        op(builder)
    if memo is not None:
        memo(builder)
    tx = builder.set_timeout(30).build()
    tx.sign(source)
    rpc.send_transaction(tx)
    rpc.poll_transaction(tx.hash_hex(), sleep_strategy=lambda _: 0.1)
    return tx.hash_hex()


def _events_of(rpc: SorobanServer, tx_hash: str) -> list[EventInfo]:
    ledger = rpc.get_transaction(tx_hash).ledger
    return [e for e in rpc.get_events(start_ledger=ledger, limit=10_000).events
            if e.transaction_hash == tx_hash]


def _op_events(rpc: SorobanServer, tx_hash: str) -> list[EventInfo]:
    return [e for e in _events_of(rpc, tx_hash) if e.transaction_index > 0]


def _sym(name: str) -> str:
    return scval.to_symbol(name).to_xdr()


def _addr(strkey: str) -> str:
    return scval.to_address(strkey).to_xdr()


def _asset(text: str) -> str:
    return scval.to_string(text).to_xdr()


def _amount_map(stroops: int, muxed_id: xdr.SCVal) -> str:
    """CAP-67: data is {amount: i128, to_muxed_id: u64|bytes|string} when muxed info exists."""
    return xdr.SCVal(xdr.SCValType.SCV_MAP, map=xdr.SCMap([
        xdr.SCMapEntry(scval.to_symbol("amount"), scval.to_int128(stroops)),
        xdr.SCMapEntry(scval.to_symbol("to_muxed_id"), muxed_id),
    ])).to_xdr()


def test_native_payment_is_a_transfer_from_the_native_sac(sim, rpc, funded):
    alice, bob = funded(), funded()
    tx_hash = _apply(rpc, sim, alice, pay(bob.public_key, "12.5"))
    [event] = _op_events(rpc, tx_hash)
    assert event.event_type == "contract"
    assert event.contract_id == Asset.native().contract_id(sim.passphrase)
    assert event.topic == [_sym("transfer"), _addr(alice.public_key), _addr(bob.public_key),
                           _asset("native")]
    assert event.value == scval.to_int128(125_000_000).to_xdr()
    assert event.operation_index == 0 and event.transaction_index >= 1
    assert event.id == f"{(event.ledger << 32) | (event.transaction_index << 12):019d}-0000000000"


@pytest.mark.parametrize("memo, muxed_id", [
    (lambda b: b.add_text_memo("order 42"), scval.to_string(b"order 42")),
    (lambda b: b.add_id_memo(2**63 + 5), scval.to_uint64(2**63 + 5)),
    (lambda b: b.add_hash_memo(hashlib.sha256(b"h").digest()),
     scval.to_bytes(hashlib.sha256(b"h").digest())),
    (lambda b: b.add_return_hash_memo(hashlib.sha256(b"r").digest()),
     scval.to_bytes(hashlib.sha256(b"r").digest())),
], ids=["text", "id", "hash", "return"])
def test_memo_goes_into_the_value_map(sim, rpc, funded, memo, muxed_id):
    alice, bob = funded(), funded()
    tx_hash = _apply(rpc, sim, alice, pay(bob.public_key, "1"), memo=memo)
    [event] = _op_events(rpc, tx_hash)
    assert event.value == _amount_map(10_000_000, muxed_id)


def test_muxed_destination_id_wins_over_the_memo(sim, rpc, funded):
    alice, bob = funded(), funded()
    to = MuxedAccount(bob.public_key, 77).account_muxed
    tx_hash = _apply(rpc, sim, alice, lambda b: b.append_payment_op(to, Asset.native(), "2"),
                     memo=lambda b: b.add_id_memo(5))
    [event] = _op_events(rpc, tx_hash)
    assert event.topic[2] == _addr(bob.public_key)  # the non-muxed address in the topics
    assert event.value == _amount_map(20_000_000, scval.to_uint64(77))


def test_issuer_mints_and_burns(sim, rpc, funded):
    issuer, holder = funded(), funded()
    usd = Asset("USD", issuer.public_key)
    _apply(rpc, sim, holder, trust(usd))
    minted = _apply(rpc, sim, issuer, pay(holder.public_key, "30", usd),
                    memo=lambda b: b.add_text_memo("dep"))
    burned = _apply(rpc, sim, holder, pay(issuer.public_key, "4", usd),
                    memo=lambda b: b.add_text_memo("wd"))
    sac = usd.contract_id(sim.passphrase)
    [mint] = _op_events(rpc, minted)
    assert mint.contract_id == sac
    assert mint.topic == [_sym("mint"), _addr(holder.public_key), _asset(f"USD:{issuer.public_key}")]
    assert mint.value == _amount_map(300_000_000, scval.to_string(b"dep"))
    [burn] = _op_events(rpc, burned)
    assert burn.topic == [_sym("burn"), _addr(holder.public_key), _asset(f"USD:{issuer.public_key}")]
    assert burn.value == scval.to_int128(40_000_000).to_xdr()  # burn never carries the map


def test_create_account_and_claimable_balances(sim, rpc, funded):
    alice, claimer = funded(), funded()
    fresh = Keypair.random()
    created = _apply(rpc, sim, alice,
                     lambda b: b.append_create_account_op(fresh.public_key, "50"),
                     memo=lambda b: b.add_id_memo(9))
    [event] = _op_events(rpc, created)
    assert event.topic == [_sym("transfer"), _addr(alice.public_key), _addr(fresh.public_key),
                           _asset("native")]
    assert event.value == _amount_map(500_000_000, scval.to_uint64(9))
    made = _apply(rpc, sim, alice, lambda b: b.append_create_claimable_balance_op(
        Asset.native(), "3", [Claimant(claimer.public_key)]))
    [into] = _op_events(rpc, made)
    balance_id = sim.call(lambda: next(iter(sim.network.state.balances)))
    raw = bytes.fromhex(balance_id)
    balance = StrKey.encode_claimable_balance(raw[3:])  # type byte + hash
    assert into.topic == [_sym("transfer"), _addr(alice.public_key), _addr(balance),
                          _asset("native")]
    assert into.value == scval.to_int128(30_000_000).to_xdr()
    claimed = _apply(rpc, sim, claimer, lambda b: b.append_claim_claimable_balance_op(balance_id))
    [out] = _op_events(rpc, claimed)
    assert out.topic == [_sym("transfer"), _addr(balance), _addr(claimer.public_key),
                         _asset("native")]


def test_fee_events_for_every_transaction_and_none_for_failed_operations(sim, rpc, funded):
    alice = funded("3")
    failed = _apply(rpc, sim, alice, pay(Keypair.random().public_key, "1"))
    events = _events_of(rpc, failed)
    assert [e.topic for e in events] == [[_sym("fee"), _addr(alice.public_key)]]
    assert events[0].value == scval.to_int128(100).to_xdr()
    assert events[0].transaction_index == 0 and events[0].operation_index == 0


def test_filters_by_contract_id_and_topic_with_wildcards(sim, rpc, funded):
    issuer, alice, bob = funded(), funded(), funded()
    usd = Asset("USD", issuer.public_key)
    _apply(rpc, sim, alice, trust(usd))
    _apply(rpc, sim, bob, trust(usd))
    _apply(rpc, sim, issuer, pay(alice.public_key, "10", usd))
    first = rpc.get_transaction(_apply(rpc, sim, alice, pay(bob.public_key, "1", usd),
                                       pay(bob.public_key, "2"))).ledger
    sac = usd.contract_id(sim.passphrase)
    only_usd = rpc.get_events(start_ledger=first, filters=[
        EventFilter(event_type=EventFilterType.CONTRACT, contract_ids=[sac])]).events
    assert [e.topic[0] for e in only_usd] == [_sym("transfer")]
    to_bob = [_sym("transfer"), "*", _addr(bob.public_key), "*"]
    both = rpc.get_events(start_ledger=first, filters=[EventFilter(topics=[to_bob])]).events
    assert [e.contract_id for e in both] == [sac, Asset.native().contract_id(sim.passphrase)]
    flexible = rpc.get_events(start_ledger=first, filters=[
        EventFilter(topics=[[_sym("transfer"), "**"]])]).events
    assert len(flexible) == 2
    fees = rpc.get_events(start_ledger=first, filters=[EventFilter(topics=[[_sym("fee"), "*"]])])
    assert fees.events and all(e.topic[0] == _sym("fee") for e in fees.events)
    assert rpc.get_events(start_ledger=first, filters=[
        EventFilter(event_type=EventFilterType.SYSTEM)]).events == []


@pytest.mark.parametrize("filters, limit, message", [
    ([EventFilter()] * 6, None, "maximum 5 filters per request"),
    ([EventFilter(contract_ids=[Asset.native().contract_id("x")] * 6)], None,
     "filter 1 invalid: maximum 5 contract IDs per filter"),
    ([EventFilter(event_type=EventFilterType.DIAGNOSTIC)], None,
     "filter 1 invalid: filter type invalid: if set, type must be either 'system' or "
     "'contract'"),
    ([EventFilter(topics=[["*"] * 5])], None,
     "filter 1 invalid: topic 1 invalid: topic cannot have more than 4 segments"),
    ([EventFilter(topics=[["**", "*"]])], None,
     "filter 1 invalid: topic 1 invalid: segment 1 invalid: wildcard '**' is only allowed as "
     "the last segment"),
    ([EventFilter(topics=[["*"]] * 6)], None, "filter 1 invalid: maximum 5 topics per filter"),
    (None, 10_001, "limit must not exceed 10000"),
])
def test_request_limits_are_enforced(rpc, filters, limit, message):
    with pytest.raises(SorobanRpcErrorResponse) as err:
        rpc.get_events(start_ledger=1, filters=filters, limit=limit)
    assert (err.value.code, err.value.message) == (-32602, message)


def test_paging_by_cursor_sees_every_event_once(sim, rpc, funded):
    alice, bob = funded(), funded()
    for amount in ("1", "2", "3"):
        _apply(rpc, sim, alice, pay(bob.public_key, amount))
    everything = rpc.get_events(start_ledger=1, limit=10_000)
    assert everything.cursor.endswith("-4294967295")  # the end of the scanned window
    page = rpc.get_events(start_ledger=1, limit=2)
    seen = []
    while page.events:
        seen += [e.id for e in page.events]
        assert page.cursor == page.events[-1].id or len(page.events) < 2
        page = rpc.get_events(cursor=page.cursor, limit=2)
    assert seen == [e.id for e in everything.events] and len(seen) == len(set(seen))
    assert seen == sorted(seen)
    assert rpc.get_events(cursor=page.cursor).events == []


def test_injected_event_from_another_contract_is_not_the_sac(sim, rpc, funded):
    issuer, holder = funded(), funded()
    usd = Asset("USD", issuer.public_key)
    look_alike = StrKey.encode_contract(hashlib.sha256(b"not the SAC").digest())
    answer = requests.post(sim.url + "/_simnet/rpc/events", timeout=10, json={
        "contract_id": look_alike,
        "transfer": {"from": issuer.public_key, "to": holder.public_key,
                     "asset": f"USD:{issuer.public_key}", "amount": "1000", "to_muxed_id": 3}})
    assert answer.status_code == 200
    ledger = answer.json()["ledger"]
    sim.wait_for_ledgers(2)
    [fake] = [e for e in rpc.get_events(start_ledger=ledger).events
              if e.contract_id == look_alike]
    assert fake.ledger == ledger
    assert fake.topic == [_sym("transfer"), _addr(issuer.public_key), _addr(holder.public_key),
                          _asset(f"USD:{issuer.public_key}")]
    assert fake.value == _amount_map(10_000_000_000, scval.to_uint64(3))
    sac_only = rpc.get_events(start_ledger=ledger, filters=[
        EventFilter(contract_ids=[usd.contract_id(sim.passphrase)])]).events
    assert sac_only == []
    bad = requests.post(sim.url + "/_simnet/rpc/events", timeout=10,
                        json={"contract_id": "nope", "topics": [], "value": ""})
    assert bad.status_code == 400
