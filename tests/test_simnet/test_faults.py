"""Injected faults: submission timeouts (applied or not), 5xx, resets, latency, admin API."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import requests
from stellar_sdk.exceptions import BadRequestError, BadResponseError, ConnectionError, NotFoundError

from simnet.faults import FaultSet

from .helpers import build, pay


def _wait_for(server, tx_hash, seconds=3.0):
    deadline = time.monotonic() + seconds
    while True:
        try:
            return server.transactions().transaction(tx_hash).call()
        except NotFoundError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_504_that_still_applies(sim, server, funded):
    a, b = funded(), funded()
    tx = build(server, sim.passphrase, a, pay(b.public_key, "3"))
    sim.add_fault("submit_timeout", applied=True, count=4)  # RequestsClient POSTs 4 times
    with pytest.raises(BadResponseError) as info:
        server.submit_transaction(tx)
    assert info.value.status == 504
    assert info.value.type == "https://stellar.org/horizon-errors/transaction_submission_timeout"
    assert info.value.extras["hash"] == tx.hash_hex()
    assert _wait_for(server, tx.hash_hex())["successful"] is True
    assert sim.balance(b.public_key) == Decimal("10003")
    assert server.submit_transaction(tx)["hash"] == tx.hash_hex()  # resubmitting is safe
    assert sim.balance(b.public_key) == Decimal("10003")


def test_504_that_does_not_apply(sim, no_retry_server, funded):
    server = no_retry_server
    a, b = funded(), funded()
    tx = build(server, sim.passphrase, a, pay(b.public_key, "3"))
    sim.add_fault("submit_timeout", applied=False, count=1)
    with pytest.raises(BadResponseError) as info:
        server.submit_transaction(tx)
    assert info.value.status == 504 and info.value.extras["hash"] == tx.hash_hex()
    sim.wait_for_ledgers(2)
    with pytest.raises(NotFoundError):
        server.transactions().transaction(tx.hash_hex()).call()
    assert sim.balance(b.public_key) == Decimal(10000)
    assert server.submit_transaction(tx)["successful"] is True


def test_server_errors(sim, no_retry_server, funded):
    a, b = funded(), funded()
    tx = build(no_retry_server, sim.passphrase, a, pay(b.public_key, "1"))
    for status in (500, 502, 503):
        sim.add_fault("submit_error", status=status, count=1)
        with pytest.raises(BadResponseError) as info:
            no_retry_server.submit_transaction(tx)
        assert info.value.status == status
    assert sim.transaction(tx.hash_hex()) is None
    assert no_retry_server.submit_transaction(tx)["successful"] is True


def test_connection_reset_not_applied_and_applied(sim, server, no_retry_server, funded):
    a, b = funded(), funded()
    tx = build(server, sim.passphrase, a, pay(b.public_key, "1"))
    sim.add_fault("reset", count=4)
    with pytest.raises(ConnectionError):
        server.submit_transaction(tx)
    assert sim.faults() == []
    assert sim.transaction(tx.hash_hex()) is None
    sim.add_fault("reset", applied=True, count=1)
    with pytest.raises(ConnectionError):
        no_retry_server.submit_transaction(tx)
    assert _wait_for(server, tx.hash_hex())["successful"] is True


def test_reset_and_latency_on_reads(sim, server, funded):
    kp = funded()
    sim.add_fault("latency", seconds=0.4, scope="read", count=1)
    started = time.monotonic()
    server.load_account(kp.public_key)
    assert time.monotonic() - started >= 0.4
    sim.add_fault("reset", scope="read", count=1, match="/accounts/")
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{sim.url}/accounts/{kp.public_key}", timeout=5)
    assert requests.get(f"{sim.url}/accounts/{kp.public_key}", timeout=5).status_code == 200


def test_probability_and_counts_are_deterministic_with_seed():
    faults = FaultSet(seed=7)
    faults.add("submit_error", probability=0.5)
    fired = [faults.take(("submit_error",), "submit", "/transactions") is not None
             for _ in range(200)]
    assert 60 < sum(fired) < 140
    again = FaultSet(seed=7)
    again.add("submit_error", probability=0.5)
    assert fired == [again.take(("submit_error",), "submit", "/transactions") is not None
                     for _ in range(200)]
    counted = FaultSet()
    counted.add("latency", count=2, seconds=0)
    assert [counted.take(("latency",), "read", "/") is not None for _ in range(3)] == [
        True, True, False]
    with pytest.raises(ValueError):
        counted.add("no_such_fault")
    with pytest.raises(ValueError):
        counted.add("latency", colour="red")


def test_faults_armed_at_start():
    from simnet import Simnet

    with Simnet(ledger_interval=0.1, faults=[{"kind": "latency", "seconds": 0.3}]) as sim:
        started = time.monotonic()
        requests.get(sim.url + "/", timeout=5)
        assert time.monotonic() - started >= 0.3


def test_admin_api(sim, funded):
    kp = funded()
    admin = f"{sim.url}/_simnet"
    created = requests.post(f"{admin}/faults", json={"kind": "submit_timeout", "count": 2},
                            timeout=5)
    assert created.status_code == 201 and created.json()["params"]["applied"] is True
    assert [f["kind"] for f in requests.get(f"{admin}/faults", timeout=5).json()] == [
        "submit_timeout"]
    assert requests.delete(f"{admin}/faults/{created.json()['id']}", timeout=5).status_code == 204
    bad = requests.post(f"{admin}/faults", json={"kind": "nope"}, timeout=5)
    assert bad.status_code == 400
    assert bad.headers["Content-Type"].startswith("application/problem+json")
    assert requests.post(f"{admin}/faults", data="{", timeout=5).status_code == 400
    state = requests.get(f"{admin}/accounts/{kp.public_key}", timeout=5).json()
    assert state["balances"][0] == {"asset": "native", "balance": "10000.0000000",
                                    "stroops": 100_000_000_000}
    payments = requests.get(f"{admin}/payments", params={"account": kp.public_key},
                            timeout=5).json()
    assert payments[0]["to"] == kp.public_key and payments[0]["type"] == "create_account"
    txs = requests.get(f"{admin}/transactions", timeout=5).json()
    assert txs[-1]["result_codes"] == {"transaction": "tx_success"}
    summary = requests.get(f"{admin}/", timeout=5).json()
    assert summary["network_passphrase"] == sim.passphrase
    closed = requests.post(f"{admin}/close_ledger", timeout=5).json()["sequence"]
    assert closed >= summary["ledger"] + 1
    rate = requests.post(f"{admin}/rates", json={"sell": "native", "buy": f"USD:{kp.public_key}",
                                                 "rate": "0.25"}, timeout=5)
    assert rate.status_code == 201
    assert requests.post(f"{admin}/rates", json={"sell": "native", "buy": "junk", "rate": "1"},
                         timeout=5).status_code == 400


def test_every_answer_carries_latest_ledger(sim, server, funded):
    a = funded()
    latest = sim.latest_ledger
    for path in ("/", f"/accounts/{a.public_key}", "/ledgers", f"/transactions/{'0' * 64}"):
        response = requests.get(sim.url + path, timeout=5)
        assert int(response.headers["Latest-Ledger"]) >= latest, path
    root = server.root().call()
    assert root["history_latest_ledger"] >= latest and root["core_latest_ledger"] >= latest
    assert root["history_elder_ledger"] >= 1


@pytest.mark.parametrize("status", [404, 429, 500, 502, 503, 504])
def test_read_error(sim, no_retry_server, funded, status):
    a = funded()
    sim.add_fault("read_error", status=status, match="/accounts/", count=1)
    expected = {404: NotFoundError, 429: BadRequestError}.get(status, BadResponseError)
    with pytest.raises(expected) as info:
        no_retry_server.accounts().account_id(a.public_key).call()
    assert info.value.status == status
    assert "result_codes" not in (info.value.extras or {})
    sim.add_fault("read_error", status=status, match="/accounts/", count=1)
    raw = requests.get(f"{sim.url}/accounts/{a.public_key}", timeout=5)
    assert raw.status_code == status and "Latest-Ledger" not in raw.headers  # not from Horizon
    if status == 429:
        assert info.value.type.endswith("/rate_limit_exceeded")
    assert no_retry_server.accounts().account_id(a.public_key).call()["id"] == a.public_key
    sim.add_fault("read_error", match="/ledgers", count=1)  # 404 by default; other paths answer
    assert no_retry_server.accounts().account_id(a.public_key).call()["id"] == a.public_key
    with pytest.raises(NotFoundError):
        no_retry_server.ledgers().call()


@pytest.mark.parametrize("applied", [False, True], ids=["not-applied", "applied"])
@pytest.mark.parametrize("status", [403, 413, 429])
def test_submit_rejected(sim, no_retry_server, funded, status, applied):
    a, b = funded(), funded()
    tx = build(no_retry_server, sim.passphrase, a, pay(b.public_key, "2"))
    sim.add_fault("submit_rejected", status=status, applied=applied, count=1)
    with pytest.raises(BadRequestError) as info:
        no_retry_server.submit_transaction(tx)
    assert info.value.status == status and "result_codes" not in (info.value.extras or {})
    if applied:
        assert _wait_for(no_retry_server, tx.hash_hex())["successful"] is True
    else:
        sim.wait_for_ledgers(2)
        assert sim.transaction(tx.hash_hex()) is None
    assert no_retry_server.submit_transaction(tx)["hash"] == tx.hash_hex()
    assert sim.balance(b.public_key) == Decimal("10002")


def test_lagging_node(sim, server, funded):
    a, b = funded(), funded()
    tx = build(server, sim.passphrase, a, pay(b.public_key, "1"))
    assert server.submit_transaction(tx)["successful"] is True
    applied_in = sim.transaction(tx.hash_hex())["ledger"]
    sim.add_fault("lagging_node", ledgers=1000)
    response = requests.get(f"{sim.url}/transactions/{tx.hash_hex()}", timeout=5)
    assert response.status_code == 404
    assert int(response.headers["Latest-Ledger"]) < applied_in  # it has not seen that ledger
    with pytest.raises(NotFoundError):
        server.transactions().transaction(tx.hash_hex()).call()
    account = server.accounts().account_id(a.public_key).call()  # accounts are current
    assert int(account["sequence"]) == tx.transaction.sequence
    assert account["sequence_ledger"] == applied_in
    sim.clear_faults()
    sim.add_fault("lagging_node")  # 3 ledgers behind: an older transaction is found
    sim.wait_for_ledgers(4)
    response = requests.get(f"{sim.url}/transactions/{tx.hash_hex()}", timeout=5)
    assert response.status_code == 200
    assert applied_in <= int(response.headers["Latest-Ledger"]) <= sim.latest_ledger - 3


@pytest.mark.parametrize("code", ["tx_too_late", "tx_bad_seq"])
def test_resubmit_refused(sim, no_retry_server, funded, code):
    a, b = funded(), funded()
    tx = build(no_retry_server, sim.passphrase, a, pay(b.public_key, "1"))
    sim.add_fault("resubmit_refused", code=code, count=1)
    assert no_retry_server.submit_transaction(tx)["successful"] is True  # first time: applies
    with pytest.raises(BadRequestError) as info:
        no_retry_server.submit_transaction(tx)
    assert info.value.extras["result_codes"] == {"transaction": code}
    assert sim.faults() == []
    assert no_retry_server.submit_transaction(tx)["hash"] == tx.hash_hex()
    assert sim.balance(b.public_key) == Decimal("10001")


def test_new_fault_parameters_are_checked():
    faults = FaultSet()
    for kind, params in (("read_error", {"status": 418}), ("submit_rejected", {"status": 500}),
                         ("resubmit_refused", {"code": "tx_failed"}), ("lagging_node", {"ledgers": 0})):
        with pytest.raises(ValueError):
            faults.add(kind, **params)
    assert faults.add("read_error").params == {"status": 404}
    assert faults.add("submit_rejected").params == {"status": 429, "applied": False}
    assert faults.add("lagging_node").params == {"ledgers": 3}
    assert faults.add("resubmit_refused").params == {"code": "tx_too_late"}


def test_async_submission_takes_the_same_faults(sim, no_retry_server, funded):
    """POST /transactions_async: a 504 or a 429 without codes may hide an admitted transaction,
    and a resubmission of an applied envelope may be refused with tx_bad_seq."""
    a, b = funded(), funded()
    tx = build(no_retry_server, sim.passphrase, a, pay(b.public_key, "2"))
    sim.add_fault("submit_rejected", status=429, applied=False, count=1)
    with pytest.raises(BadRequestError) as info:
        no_retry_server.submit_transaction_async(tx)
    assert info.value.status == 429 and not (info.value.extras or {}).get("result_codes")
    sim.add_fault("submit_timeout", applied=True, count=1)
    with pytest.raises(BadResponseError) as timeout:
        no_retry_server.submit_transaction_async(tx)
    assert timeout.value.status == 504
    sim.wait_for_ledgers(2)
    assert sim.transaction(tx.hash_hex()) is not None  # it landed all the same
    assert sim.balance(b.public_key) == Decimal("10002")
    sim.add_fault("resubmit_refused", code="tx_bad_seq", count=1)
    refused = requests.post(f"{sim.url}/transactions_async", data={"tx": tx.to_xdr()}, timeout=5)
    assert refused.status_code == 400 and refused.json()["tx_status"] == "ERROR"
    assert sim.faults() == []
