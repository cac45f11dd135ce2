"""Stellar RPC conformance through stellar-sdk's SorobanServer: every method simnet serves at
/rpc, the submission lifecycle, the real limits and JSON-RPC errors, and retention."""

from __future__ import annotations

import asyncio

import pytest
import requests
from stellar_sdk import Asset, Keypair, SorobanServer, SorobanServerAsync, TransactionBuilder, xdr
from stellar_sdk.exceptions import SorobanRpcErrorResponse
from stellar_sdk.soroban_rpc import GetTransactionStatus, SendTransactionStatus

from simnet import Simnet

from .helpers import build, pay, trust


def _payment(rpc: SorobanServer, sim: Simnet, source: Keypair, dest: str, amount: str = "5"):
    return build(rpc, sim.passphrase, source, pay(dest, amount))


def _create(sim: Simnet, rpc: SorobanServer, count: int) -> list[Keypair]:
    """Accounts created by root over RPC on a network whose ledgers close by hand."""
    kps = [Keypair.random() for _ in range(count)]
    builder = TransactionBuilder(rpc.load_account(sim.root_keypair.public_key), sim.passphrase,
                                 100)
    for kp in kps:
        builder.append_create_account_op(kp.public_key, "100")
    tx = builder.set_timeout(60).build()
    tx.sign(sim.root_keypair)
    assert rpc.send_transaction(tx).status == SendTransactionStatus.PENDING
    sim.close_ledger()
    return kps


def test_health_network_latest_ledger_and_fee_stats(sim, rpc, funded):
    funded()
    health = rpc.get_health()
    assert health.status == "healthy"
    assert health.oldest_ledger == 1 and health.latest_ledger == sim.latest_ledger
    assert health.ledger_retention_window == 120_960
    network = rpc.get_network()
    assert network.passphrase == sim.passphrase and network.protocol_version == 23
    assert requests.get(network.friendbot_url, params={"addr": Keypair.random().public_key},
                        timeout=10).status_code == 200
    latest = rpc.get_latest_ledger()
    header = xdr.LedgerHeader.from_xdr(latest.header_xdr)
    assert header.ledger_seq.uint32 == latest.sequence
    assert header.scp_value.close_time.time_point.uint64 == latest.close_time
    assert xdr.LedgerCloseMeta.from_xdr(latest.metadata_xdr).v0.ledger_header.hash.hash.hex() \
        == latest.id
    fees = rpc.get_fee_stats()
    assert fees.inclusion_fee.transaction_count >= 1
    assert fees.inclusion_fee.min == fees.inclusion_fee.p50 == 100
    assert 1 <= fees.inclusion_fee.ledger_count <= 10
    assert fees.soroban_inclusion_fee.transaction_count == 0
    assert fees.soroban_inclusion_fee.ledger_count == 0


def test_send_then_get_transaction_lifecycle(sim, rpc, funded):
    alice, bob = funded(), funded()
    tx = _payment(rpc, sim, alice, bob.public_key, "12.5")
    assert rpc.get_transaction(tx.hash_hex()).status == GetTransactionStatus.NOT_FOUND
    sent = rpc.send_transaction(tx)
    assert sent.status == SendTransactionStatus.PENDING and sent.hash == tx.hash_hex()
    assert sent.latest_ledger == sim.latest_ledger
    assert rpc.send_transaction(tx).status == SendTransactionStatus.DUPLICATE
    found = rpc.poll_transaction(tx.hash_hex(), sleep_strategy=lambda _: 0.1)
    assert found.status == GetTransactionStatus.SUCCESS
    assert found.application_order >= 1 and found.fee_bump is False
    assert found.envelope_xdr == tx.to_xdr()
    result = xdr.TransactionResult.from_xdr(found.result_xdr)
    assert result.result.code == xdr.TransactionResultCode.txSUCCESS
    meta = xdr.TransactionMeta.from_xdr(found.result_meta_xdr)
    assert meta.v == 4 and len(meta.v4.operations) == 1
    assert found.ledger == sim.transaction(tx.hash_hex())["ledger"]
    assert found.events.contract_events_xdr and found.events.transaction_events_xdr
    assert sim.balance(bob.public_key) == 10_012.5
    # resubmitting what applied: core's sequence check answers ERROR txBAD_SEQ
    again = rpc.send_transaction(tx)
    assert again.status == SendTransactionStatus.ERROR
    assert xdr.TransactionResult.from_xdr(again.error_result_xdr).result.code == \
        xdr.TransactionResultCode.txBAD_SEQ


def test_failed_transaction_is_failed_with_its_result(sim, rpc, funded):
    alice = funded("3")
    tx = _payment(rpc, sim, alice, Keypair.random().public_key, "1")  # no such destination
    assert rpc.send_transaction(tx).status == SendTransactionStatus.PENDING
    found = rpc.poll_transaction(tx.hash_hex(), sleep_strategy=lambda _: 0.1)
    assert found.status == GetTransactionStatus.FAILED
    assert xdr.TransactionResult.from_xdr(found.result_xdr).result.code == \
        xdr.TransactionResultCode.txFAILED


def test_bad_sequence_is_error_with_result_xdr(sim, rpc, funded):
    alice = funded()
    account = rpc.load_account(alice.public_key)
    account.sequence += 5
    tx = (TransactionBuilder(account, sim.passphrase, 100)
          .append_payment_op(alice.public_key, Asset.native(), "1").set_timeout(30).build())
    tx.sign(alice)
    sent = rpc.send_transaction(tx)
    assert sent.status == SendTransactionStatus.ERROR
    assert xdr.TransactionResult.from_xdr(sent.error_result_xdr).result.code == \
        xdr.TransactionResultCode.txBAD_SEQ


def test_second_transaction_from_a_queued_source_is_try_again_later():
    with Simnet(ledger_interval=3600) as slow, SorobanServer(slow.url + "/rpc") as client:
        [alice] = _create(slow, client, 1)
        first = _payment(client, slow, alice, slow.root_keypair.public_key, "1")
        account = client.load_account(alice.public_key)
        account.sequence += 1
        second = (TransactionBuilder(account, slow.passphrase, 100)
                  .append_payment_op(slow.root_keypair.public_key, Asset.native(), "2")
                  .set_timeout(30).build())
        second.sign(alice)
        assert client.send_transaction(first).status == SendTransactionStatus.PENDING
        assert client.send_transaction(second).status == SendTransactionStatus.TRY_AGAIN_LATER


def test_ledger_entries_account_and_trustline(sim, rpc, funded):
    issuer, holder = funded(), funded()
    usd = Asset("USD", issuer.public_key)
    rpc.send_transaction(build(rpc, sim.passphrase, holder, trust(usd, "1000")))
    sim.wait_for_ledgers(2)
    rpc.send_transaction(build(rpc, sim.passphrase, issuer, pay(holder.public_key, "7.25", usd)))
    sim.wait_for_ledgers(2)
    account_key = xdr.LedgerKey(xdr.LedgerEntryType.ACCOUNT, account=xdr.LedgerKeyAccount(
        Keypair.from_public_key(holder.public_key).xdr_account_id()))
    line_key = xdr.LedgerKey(xdr.LedgerEntryType.TRUSTLINE, trust_line=xdr.LedgerKeyTrustLine(
        Keypair.from_public_key(holder.public_key).xdr_account_id(),
        usd.to_trust_line_asset_xdr_object()))
    missing = xdr.LedgerKey(xdr.LedgerEntryType.ACCOUNT, account=xdr.LedgerKeyAccount(
        Keypair.random().xdr_account_id()))
    answer = rpc.get_ledger_entries([line_key, missing, account_key])
    assert answer.latest_ledger == sim.latest_ledger
    assert [e.key for e in answer.entries] == [line_key.to_xdr(), account_key.to_xdr()]
    line = xdr.LedgerEntryData.from_xdr(answer.entries[0].xdr).trust_line
    assert line.balance.int64 == 72_500_000 and line.limit.int64 == 10_000_000_000
    assert line.flags.uint32 & 1
    account = xdr.LedgerEntryData.from_xdr(answer.entries[1].xdr).account
    snapshot = sim.account(holder.public_key)
    assert account.seq_num.sequence_number.int64 == snapshot["sequence"]
    assert account.num_sub_entries.uint32 == 1
    assert answer.entries[1].live_until_ledger is None
    assert rpc.load_account(holder.public_key).sequence == snapshot["sequence"]


def test_ledger_entries_refuses_more_than_200_keys(rpc):
    keys = [xdr.LedgerKey(xdr.LedgerEntryType.ACCOUNT, account=xdr.LedgerKeyAccount(
        Keypair.random().xdr_account_id())) for _ in range(201)]
    assert rpc.get_ledger_entries(keys[:200]).entries == []
    with pytest.raises(SorobanRpcErrorResponse) as err:
        rpc.get_ledger_entries(keys)
    assert err.value.code == -32602
    assert err.value.message == "key count (201) exceeds maximum supported (200)"


def test_get_transactions_pages_with_its_cursor(sim, rpc, funded):
    alice, bob = funded(), funded()
    hashes = []
    for _ in range(3):
        tx = _payment(rpc, sim, alice, bob.public_key, "1")
        rpc.send_transaction(tx)
        rpc.poll_transaction(tx.hash_hex(), sleep_strategy=lambda _: 0.1)
        hashes.append(tx.hash_hex())
    seen, cursor = [], None
    page = rpc.get_transactions(start_ledger=1, limit=2)
    while page.transactions:
        assert len(page.transactions) <= 2
        seen += [t.transaction_hash for t in page.transactions]
        cursor = page.cursor
        page = rpc.get_transactions(cursor=cursor, limit=2)
    assert [h for h in seen if h in hashes] == hashes
    assert len(seen) == len(set(seen)) == len(sim.transactions())
    assert all(t.status == "SUCCESS" for t in rpc.get_transactions(start_ledger=1).transactions)
    with pytest.raises(SorobanRpcErrorResponse) as err:
        rpc.get_transactions(start_ledger=1, limit=201)
    assert (err.value.code, err.value.message) == (-32600, "limit must not exceed 200")


def _raw(sim: Simnet, body) -> dict:
    return requests.post(sim.url + "/rpc", json=body, timeout=10).json()


def test_json_rpc_request_errors(sim):
    assert _raw(sim, {"jsonrpc": "2.0", "id": 1, "method": "getNope"})["error"]["code"] == -32601
    bad_hash = _raw(sim, {"jsonrpc": "2.0", "id": 2, "method": "getTransaction",
                          "params": {"hash": "abc"}})
    assert bad_hash == {"jsonrpc": "2.0", "id": 2,
                        "error": {"code": -32602, "message": "unexpected hash length (3)"}}
    bad_xdr = _raw(sim, {"jsonrpc": "2.0", "id": 3, "method": "sendTransaction",
                         "params": {"transaction": "not xdr"}})
    assert bad_xdr["error"] == {"code": -32602, "message": "invalid_xdr"}
    positional = _raw(sim, {"jsonrpc": "2.0", "id": 4, "method": "getHealth", "params": [1]})
    assert positional["error"]["code"] == -32602
    parse = requests.post(sim.url + "/rpc", data=b"{not json", timeout=10).json()
    assert parse["error"]["code"] == -32700
    batch = _raw(sim, [{"jsonrpc": "2.0", "id": 5, "method": "getHealth"},
                       {"jsonrpc": "2.0", "id": 6, "method": "getLatestLedger"}])
    assert [a["id"] for a in batch] == [5, 6] and all("result" in a for a in batch)


def test_retention_moves_oldest_ledger_and_forgets_older_history():
    with Simnet(ledger_interval=3600, rpc_retention_window=5) as sim, \
            SorobanServer(sim.url + "/rpc") as rpc:
        alice, bob = _create(sim, rpc, 2)
        tx = _payment(rpc, sim, alice, bob.public_key)
        rpc.send_transaction(tx)
        applied_in = sim.close_ledger()
        assert rpc.get_transaction(tx.hash_hex()).status == GetTransactionStatus.SUCCESS
        for _ in range(5):
            sim.close_ledger()
        latest = sim.latest_ledger
        health = rpc.get_health()
        assert (health.oldest_ledger, health.latest_ledger) == (latest - 4, latest)
        assert health.ledger_retention_window == 5
        gone = rpc.get_transaction(tx.hash_hex())
        assert gone.status == GetTransactionStatus.NOT_FOUND and applied_in < gone.oldest_ledger
        with pytest.raises(SorobanRpcErrorResponse) as err:
            rpc.get_events(start_ledger=applied_in)
        assert err.value.code == -32600
        assert err.value.message == \
            f"startLedger must be within the ledger range: {latest - 4} - {latest}"
        with pytest.raises(SorobanRpcErrorResponse) as err:
            rpc.get_transactions(start_ledger=applied_in)
        assert err.value.code == -32600
        assert rpc.get_events(start_ledger=latest - 4).oldest_ledger == latest - 4


def test_async_client_submits_and_reads(sim, funded):
    alice, bob = funded(), funded()

    async def run() -> GetTransactionStatus:
        async with SorobanServerAsync(sim.url + "/rpc") as client:
            account = await client.load_account(alice.public_key)
            tx = (TransactionBuilder(account, sim.passphrase, 100)
                  .append_payment_op(bob.public_key, Asset.native(), "3").set_timeout(30).build())
            tx.sign(alice)
            sent = await client.send_transaction(tx)
            assert sent.status == SendTransactionStatus.PENDING
            found = await client.poll_transaction(sent.hash, sleep_strategy=lambda _: 0.1)
            events = await client.get_events(start_ledger=found.ledger)
            assert any(e.transaction_hash == sent.hash for e in events.events)
            return found.status

    assert asyncio.run(run()) == GetTransactionStatus.SUCCESS
    assert sim.balance(bob.public_key) == 10_003
