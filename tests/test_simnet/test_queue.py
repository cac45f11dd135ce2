"""Async submission, the one-transaction-per-account queue, surge pricing and queue limits.

These tests close ledgers by hand (a one-hour ledger interval) so queue contents are exact.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from stellar_sdk import Asset, Keypair, Server, TransactionBuilder
from stellar_sdk.client.requests_client import RequestsClient
from stellar_sdk.exceptions import BadRequestError, BadResponseError

from simnet import Simnet


@pytest.fixture
def manual() -> Iterator[Simnet]:
    with Simnet(ledger_interval=3600, ledger_capacity=2, submission_timeout=2.0) as sim:
        yield sim


@pytest.fixture
def srv(manual) -> Iterator[Server]:
    with Server(manual.url, client=RequestsClient(num_retries=0)) as server:
        yield server


def _fund(sim: Simnet, server: Server, count: int) -> list[Keypair]:
    """Create accounts from root, two per ledger (the capacity of these networks)."""
    kps = [Keypair.random() for _ in range(count)]
    root = sim.root_keypair
    for i in range(0, count, 2):
        builder = TransactionBuilder(server.load_account(root.public_key), sim.passphrase, 100)
        for kp in kps[i:i + 2]:
            builder.append_create_account_op(kp.public_key, "100")
        tx = builder.set_timeout(60).build()
        tx.sign(root)
        assert server.submit_transaction_async(tx)["tx_status"] == "PENDING"
        sim.close_ledger()
    return kps


def _pay(sim, server, source, dest, fee=100, seq_offset=0):
    account = server.load_account(source.public_key)
    account.sequence += seq_offset
    tx = TransactionBuilder(account, sim.passphrase, fee).append_payment_op(
        dest, Asset.native(), "1").set_timeout(60).build()
    tx.sign(source)
    return tx


def test_async_statuses(manual, srv):
    a, b = _fund(manual, srv, 2)
    tx = _pay(manual, srv, a, b.public_key)
    assert srv.submit_transaction_async(tx) == {"tx_status": "PENDING", "hash": tx.hash_hex()}
    with pytest.raises(BadRequestError) as info:
        srv.submit_transaction_async(tx)
    assert info.value.status == 409
    second = _pay(manual, srv, a, b.public_key, seq_offset=1)
    with pytest.raises(BadResponseError) as info:
        srv.submit_transaction_async(second)
    assert info.value.status == 503
    bad = _pay(manual, srv, a, b.public_key, seq_offset=10)
    manual.close_ledger()
    with pytest.raises(BadRequestError) as info:
        srv.submit_transaction_async(bad)
    assert info.value.status == 400
    assert srv.transactions().transaction(tx.hash_hex()).call()["successful"] is True


def test_async_error_body_has_result_xdr(manual):
    import requests

    with Server(manual.url) as server:
        a, b = _fund(manual, server, 2)
        tx = _pay(manual, server, a, b.public_key, fee=1)
    resp = requests.post(f"{manual.url}/transactions_async", data={"tx": tx.to_xdr()}, timeout=5)
    assert resp.status_code == 400
    body = resp.json()
    assert body["tx_status"] == "ERROR" and body["hash"] == tx.hash_hex()
    assert body["error_result_xdr"] == "AAAAAAAAAGT////3AAAAAA=="


def test_surge_pricing_over_capacity(manual, srv):
    payers = _fund(manual, srv, 3)
    dest = payers[0].public_key
    txs = [_pay(manual, srv, kp, dest, fee=fee) for kp, fee in zip(payers, (100, 300, 200),
                                                                    strict=True)]
    for tx in txs:
        assert srv.submit_transaction_async(tx)["tx_status"] == "PENDING"
    manual.close_ledger()
    ledger = srv.ledgers().order(desc=True).limit(1).call()["_embedded"]["records"][0]
    assert ledger["base_fee_in_stroops"] == 200 and ledger["tx_set_operation_count"] == 2
    charged = {tx.hash_hex(): manual.transaction(tx.hash_hex()) for tx in txs}
    assert charged[txs[0].hash_hex()] is None  # the low bidder waits
    assert charged[txs[1].hash_hex()]["fee_charged"] == 200
    assert charged[txs[2].hash_hex()]["fee_charged"] == 200
    assert srv.fee_stats().call()["last_ledger_base_fee"] == "200"
    manual.close_ledger()
    assert manual.transaction(txs[0].hash_hex())["fee_charged"] == 100


def test_full_queue_rejects_low_bidders_with_insufficient_fee(manual, srv):
    payers = _fund(manual, srv, 10)
    dest = payers[0].public_key
    for kp in payers[:8]:  # capacity 2 x queue multiplier 4 = 8 operations
        assert srv.submit_transaction_async(_pay(manual, srv, kp, dest))["tx_status"] == "PENDING"
    with pytest.raises(BadRequestError) as info:
        srv.submit_transaction_async(_pay(manual, srv, payers[8], dest))
    assert info.value.status == 400
    rich = _pay(manual, srv, payers[9], dest, fee=1000)
    assert srv.submit_transaction_async(rich)["tx_status"] == "PENDING"
    manual.close_ledger()
    assert manual.transaction(rich.hash_hex())["fee_charged"] == 100


def test_sync_second_transaction_of_same_source_is_bad_seq_once_first_applies(manual, srv):
    import threading

    a, b = _fund(manual, srv, 2)
    first = _pay(manual, srv, a, b.public_key)
    rebuilt = _pay(manual, srv, a, b.public_key, fee=101)  # same sequence, other hash
    assert srv.submit_transaction_async(first)["tx_status"] == "PENDING"
    outcome = {}

    def submit():
        try:
            outcome["ok"] = srv.submit_transaction(rebuilt)
        except BadRequestError as exc:
            outcome["err"] = exc

    thread = threading.Thread(target=submit)
    thread.start()
    import time

    time.sleep(0.3)
    manual.close_ledger()
    thread.join(5)
    assert outcome["err"].extras["result_codes"] == {"transaction": "tx_bad_seq"}


def test_sync_submission_times_out_with_504(manual, srv):
    a, b = _fund(manual, srv, 2)
    tx = _pay(manual, srv, a, b.public_key)
    with pytest.raises(BadResponseError) as info:
        srv.submit_transaction(tx)  # no ledger closes within submission_timeout (2 s)
    assert info.value.status == 504 and info.value.extras["hash"] == tx.hash_hex()
    manual.close_ledger()
    assert manual.transaction(tx.hash_hex())["successful"] is True
