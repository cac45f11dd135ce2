"""Faults between the worker and Horizon: each deposit ends paid exactly once."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest

from anchor_dramatiq.deposits import submit_deposit
from anchor_dramatiq.models import Submission, Transaction
from anchor_dramatiq.stellar import submission as protocol


def completed(deposit) -> bool:
    return Transaction.get_by_id(deposit.id).status == "completed"


def paid_once(anchor, wallet, deposit, amount: str) -> None:
    row = Transaction.get_by_id(deposit.id)
    assert row.status == "completed" and row.submission_status == "completed"
    assert anchor.balance(wallet.public_key) == Decimal(amount)
    assert len(anchor.payments_to(wallet.public_key)) == 1
    assert Submission.select().where(Submission.state == "succeeded").count() == 1


@pytest.mark.parametrize("applied", [True, False], ids=["applied", "not-applied"])
def test_504_ends_paid_once(anchor, run_workers, applied):
    wallet = anchor.wallet()
    deposit = anchor.deposit(wallet.public_key, "7")
    anchor.sim.add_fault("submit_timeout", applied=applied, count=1)
    assert submit_deposit(deposit.id) == "pending"
    assert Submission.get().state == "submitted"
    run_workers(lambda: completed(deposit))  # the delayed re-check settles it by hash
    paid_once(anchor, wallet, deposit, "7")


@pytest.mark.parametrize("applied", [True, False], ids=["applied", "not-applied"])
def test_dropped_connection_during_submit(anchor, run_workers, applied):
    wallet = anchor.wallet()
    deposit = anchor.deposit(wallet.public_key, "8")
    anchor.sim.add_fault("reset", scope="submit", applied=applied, count=1)
    assert submit_deposit(deposit.id) == "pending"
    run_workers(lambda: completed(deposit))
    paid_once(anchor, wallet, deposit, "8")


def test_surge_fee_bumps_the_same_inner_transaction(anchor):
    wallet = anchor.wallet()
    deposit = anchor.deposit(wallet.public_key, "9")
    protocol.network_fee(anchor.network(), anchor.settings, fresh=True)  # cache today's 100 stroops
    anchor.sim.call(lambda: setattr(anchor.sim.network, "base_fee", 1000))
    anchor.sim.wait_for_ledgers(2)
    try:
        assert submit_deposit(deposit.id) == "succeeded"
    finally:
        anchor.sim.call(lambda: setattr(anchor.sim.network, "base_fee", 100))
    original, bump = list(Submission.select().order_by(Submission.id))
    assert original.inner_hash == bump.inner_hash == original.hash and bump.hash != original.hash
    assert original.state == "expired" and bump.state == "succeeded"
    assert Transaction.get_by_id(deposit.id).stellar_transaction_id == bump.hash
    paid_once(anchor, wallet, deposit, "9")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_expired_envelope_is_rebuilt_and_paid_once(anchor):
    settings = anchor.settings.replace(tx_timeout=10)
    wallet = anchor.wallet()
    deposit = anchor.deposit(wallet.public_key, "4")
    anchor.sim.add_fault("submit_timeout", applied=False, count=1)
    assert submit_deposit(deposit.id, settings) == "pending"
    first = Submission.get()
    while anchor.sim.call(lambda: anchor.sim.network.history.latest.closed_at) <= first.max_time:
        time.sleep(0.2)
    assert submit_deposit(deposit.id, settings) == "expired"
    assert Submission.get_by_id(first.id).state == "expired"
    assert submit_deposit(deposit.id, settings) == "succeeded"
    paid_once(anchor, wallet, deposit, "4")


def test_sequence_used_elsewhere_expires_the_envelope(anchor):
    wallet = anchor.wallet()
    deposit = anchor.deposit(wallet.public_key, "3")
    anchor.sim.add_fault("submit_timeout", applied=False, count=1)
    assert submit_deposit(deposit.id) == "pending"
    # Another transaction from the distribution account takes the stored envelope's sequence.
    anchor.submit(anchor.distribution, lambda b: b.append_bump_sequence_op(0))
    time.sleep(anchor.settings.horizon_timeout + 1.2)
    assert submit_deposit(deposit.id) == "expired"
    assert submit_deposit(deposit.id) == "succeeded"
    paid_once(anchor, wallet, deposit, "3")


def test_same_message_twice_and_in_two_workers_at_once(anchor):
    wallets = [anchor.wallet() for _ in range(2)]
    deposits = [anchor.deposit(w.public_key, "5") for w in wallets]
    anchor.sim.add_fault("latency", seconds=0.5, scope="submit")
    results: list[str] = []

    def run() -> None:
        results.append(submit_deposit(deposits[0].id))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    anchor.sim.clear_faults()
    assert results.count("succeeded") == 1, results
    for wallet, deposit in zip(wallets, deposits, strict=True):
        assert completed(deposit)
        assert anchor.balance(wallet.public_key) == Decimal(5)
        assert len(anchor.payments_to(wallet.public_key)) == 1
    assert submit_deposit(deposits[0].id) == "nothing to do"
    assert Submission.select().count() == 1
