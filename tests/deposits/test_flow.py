"""The deposit flow on simnet around submit_deposit: the rails poll, deposit_funded(), the
resume sweep, a batch with an operation failing at apply time, and ``after_deposit`` once.
Every test checks the database rows and the ledger (balances, number of payments)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
from stellar_sdk import Keypair

from anchor_dramatiq import config
from anchor_dramatiq.db import utcnow
from anchor_dramatiq.deposits import (
    DepositRejected,
    deposit_funded,
    poll_pending_deposits,
    resume_deposits,
    submit_deposit,
)
from anchor_dramatiq.models import Submission, Transaction

from .rails import PATH, DepositRails


@pytest.fixture
def rails(anchor) -> Iterator[type[DepositRails]]:
    anchor.settings = anchor.settings.replace(rails=PATH)
    config.configure(anchor.settings)
    DepositRails.reset()
    yield DepositRails
    DepositRails.reset()


def row(deposit) -> Transaction:
    return Transaction.get_by_id(deposit.id)


def waiting(anchor, wallet: Keypair, **fields) -> Transaction:
    return anchor.deposit(wallet.public_key, status="pending_user_transfer_start",
                          submission_status="not_ready", **fields)


def paid(anchor, wallet: Keypair, amount: str) -> None:
    assert anchor.balance(wallet.public_key) == Decimal(amount)
    assert len(anchor.payments_to(wallet.public_key)) == 1


def unpaid(anchor, wallet: Keypair) -> None:
    assert not anchor.balance(wallet.public_key) and anchor.payments_to(wallet.public_key) == []


def completed(*deposits) -> bool:
    return all(row(d).status == "completed" for d in deposits)


def queued(broker, queue: str = "stellar") -> int:
    return broker.queues[queue].qsize() if queue in broker.queues else 0


# --------------------------------------------------------------------------- the rails poll


def test_poll_pays_what_the_rails_funded_and_records_what_it_got_wrong(
        anchor, rails, broker, run_workers, caplog, network_api):
    wallets = {name: anchor.wallet() for name in
               ("plain", "with_fee", "no_amount", "negative", "eight_places", "wrong_kind", "unfunded")}
    deposits = {name: waiting(anchor, wallet) for name, wallet in wallets.items()}
    rails.funded.update({
        deposits["plain"].id: {"amount_in": Decimal("10")},
        deposits["with_fee"].id: {"amount_in": Decimal("20"), "amount_fee": Decimal("1.5"),
                                  "amount_out": Decimal("18.5")},
        deposits["no_amount"].id: {"amount_in": None},
        deposits["negative"].id: {"amount_in": Decimal("-4")},
        deposits["eight_places"].id: {"amount_in": Decimal("1.12345678")},
        deposits["wrong_kind"].id: {"amount_in": Decimal("3"), "kind": "withdrawal"},
    })
    assert poll_pending_deposits(anchor.settings) == 2
    assert queued(broker) == 2  # one submit_deposit per ready deposit, none for the rest

    for name, words in (("no_amount", "without amount_in"), ("negative", "not positive"),
                        ("eight_places", "more than 7 decimal places")):
        bad = row(deposits[name])
        assert (bad.status, bad.submission_status) == ("error", "failed"), name
        assert words in bad.status_message and bad.amount_in is None, name
    # A row whose kind the rails changed is not the deposit it was given: logged, left waiting.
    assert "not a deposit it was given" in caplog.text
    for name in ("wrong_kind", "unfunded"):
        left = row(deposits[name])
        assert (left.kind, left.status, left.amount_in) == ("deposit", "pending_user_transfer_start", None)

    # after_deposit runs just after the completed status commits: wait for it too
    run_workers(lambda: completed(deposits["plain"], deposits["with_fee"]) and len(rails.after) == 2)
    plain, with_fee = row(deposits["plain"]), row(deposits["with_fee"])
    assert (plain.amount_in, plain.amount_fee, plain.amount_out) == (Decimal(10), Decimal(0), Decimal(10))
    assert (with_fee.amount_fee, with_fee.amount_out) == (Decimal("1.5"), Decimal("18.5"))
    paid(anchor, wallets["plain"], "10")
    paid(anchor, wallets["with_fee"], "18.5")
    for name in ("no_amount", "negative", "eight_places", "wrong_kind", "unfunded"):
        unpaid(anchor, wallets[name])
    assert rails.after == {deposits["plain"].id: 1, deposits["with_fee"].id: 1}
    # The next poll finds nothing new to pay.
    assert poll_pending_deposits(anchor.settings) == 0
    # Two messages may each pay their own deposit from the one distribution account: the one
    # whose sequence was taken expires and is rebuilt, never paid twice (checked above).
    assert {s.state for s in Submission.select()} <= {"succeeded", "expired"}


# --------------------------------------------------------------------------- deposit_funded()


def test_deposit_funded_pays_at_once_and_only_once(anchor, rails, broker, run_workers, network_api):
    wallet = anchor.wallet()
    deposit = waiting(anchor, wallet)
    assert deposit_funded(deposit.id, "12.34", external_transaction_id="bank-1") is True
    assert deposit_funded(str(deposit.id), "12.34", external_transaction_id="bank-2") is False
    assert queued(broker) == 1
    funded = row(deposit)
    assert (funded.status, funded.submission_status) == ("pending_anchor", "ready")
    assert funded.amount_in == Decimal("12.34") and funded.external_transaction_id == "bank-1"
    run_workers(lambda: completed(deposit) and deposit.id in rails.after)
    paid(anchor, wallet, "12.34")
    assert deposit_funded(deposit.id, "12.34") is False  # completed: nothing happens
    assert queued(broker) == 0 and rails.after == {deposit.id: 1}
    paid(anchor, wallet, "12.34")


def test_deposit_funded_refuses_what_is_not_a_waiting_deposit(anchor, broker):
    with pytest.raises(LookupError):
        deposit_funded(uuid.uuid4(), "5")
    wallet = anchor.wallet()
    withdrawal = Transaction.create(id=uuid.uuid4(), stellar_account=wallet.public_key,
                                    kind="withdrawal", protocol="sep24",
                                    status="pending_user_transfer_start", asset=anchor.asset)
    with pytest.raises(DepositRejected, match="not a deposit"):
        deposit_funded(withdrawal.id, "5")
    assert row(withdrawal).status == "pending_user_transfer_start" and row(withdrawal).amount_in is None
    bad = waiting(anchor, wallet)
    with pytest.raises(DepositRejected, match="more than 7 decimal places"):
        deposit_funded(bad.id, "0.00000001")
    assert (row(bad).status, row(bad).submission_status) == ("error", "failed")
    assert "more than 7 decimal places" in row(bad).status_message
    assert queued(broker) == 0 and Submission.select().count() == 0
    unpaid(anchor, wallet)


# --------------------------------------------------------------------------- resume_deposits


def age(deposit, seconds: float) -> None:
    """Pretend the deposit was queued (or claimed) ``seconds`` ago."""
    (Transaction.update(queued_at=utcnow() - dt.timedelta(seconds=seconds))
     .where(Transaction.id == deposit.id).execute())


def test_resume_resends_ready_deposits_whose_message_was_lost(anchor, rails, broker, run_workers,
                                                              network_api):
    wallets = [anchor.wallet() for _ in range(3)]
    lost = anchor.deposit(wallets[0].public_key, "4")  # ready, its message never sent
    abandoned = anchor.deposit(wallets[1].public_key, "5", submission_status="processing")
    fresh = anchor.deposit(wallets[2].public_key, "6", submission_status="processing")
    age(lost, anchor.settings.claim_timeout + 5)
    age(abandoned, anchor.settings.claim_timeout + 5)  # its claimer died before storing anything
    assert resume_deposits(anchor.settings) == 2  # `fresh` is someone's live claim: left alone
    assert queued(broker) == 2
    run_workers(lambda: completed(lost, abandoned) and len(rails.after) == 2)
    paid(anchor, wallets[0], "4")
    paid(anchor, wallets[1], "5")
    assert row(fresh).submission_status == "processing"
    unpaid(anchor, wallets[2])
    assert rails.after == {lost.id: 1, abandoned.id: 1}


class WorkerDied(BaseException):
    """Stands for the SIGKILL of the worker right after it stored (and maybe sent) the envelope."""


@pytest.mark.parametrize("stage", ["built", "submitted"])
def test_resume_settles_an_envelope_whose_worker_died(anchor, rails, broker, run_workers, monkeypatch, stage):
    from anchor_dramatiq.deposits import submit as submit_module

    wallet = anchor.wallet()
    deposit = anchor.deposit(wallet.public_key, "9")
    if stage == "built":  # stored, then the worker died before sending it
        real_submit = submit_module.submit

        def dies(server, submission):
            raise WorkerDied

        monkeypatch.setattr(submit_module, "submit", dies)
        with pytest.raises(WorkerDied):
            submit_deposit(deposit.id)
        monkeypatch.setattr(submit_module, "submit", real_submit)
    else:  # sent; it reached the ledger but the answer (a 504) and the worker's re-check are lost
        anchor.sim.add_fault("submit_timeout", applied=True, count=1)
        assert submit_deposit(deposit.id) == "pending"
        anchor.sim.wait_for_ledgers(1)
        broker.flush_all()
    stored = Submission.get()
    assert stored.state == stage and row(deposit).status == "pending_anchor"
    assert len(anchor.payments_to(wallet.public_key)) == (1 if stage == "submitted" else 0)
    # Its message is gone with it; only the sweep knows, once the worker's grace has passed.
    assert resume_deposits(anchor.settings) == 0
    late = utcnow() - dt.timedelta(seconds=anchor.settings.horizon_timeout + 5)
    Submission.update(created_at=late, submitted_at=late if stage == "submitted" else None).execute()
    assert resume_deposits(anchor.settings) == 1
    run_workers(lambda: completed(deposit) and deposit.id in rails.after)
    settled = row(deposit)
    assert settled.stellar_transaction_id == stored.hash  # the stored envelope, not a new one
    assert Submission.select().count() == 1 and Submission.get().state == "succeeded"
    paid(anchor, wallet, "9")
    assert rails.after == {deposit.id: 1}


# --------------------------------------------------------------------------- a failing operation


def test_batch_with_an_operation_failing_at_apply_time(anchor, rails, broker, network_api):
    wallets = [anchor.wallet() for _ in range(3)]
    full = anchor.wallet(trust=False)
    anchor.submit(full, lambda b: b.append_change_trust_op(anchor.sdk_asset, limit="2"))
    deposits = [anchor.deposit(wallets[0].public_key, "3"), anchor.deposit(wallets[1].public_key, "4")]
    too_big = anchor.deposit(full.public_key, "5")  # trusts the asset, but only up to 2
    deposits.append(anchor.deposit(wallets[2].public_key, "6"))
    before = anchor.balance(anchor.distribution.public_key)

    assert submit_deposit(deposits[0].id) == "failed"
    failed = Submission.get()
    assert failed.state == "failed" and failed.items.count() == 4
    assert '"op_line_full"' in failed.result_codes
    refused = row(too_big)
    assert (refused.status, refused.submission_status) == ("error", "failed")
    assert "op_line_full" in refused.status_message and failed.hash in refused.status_message
    assert "trustline limit" in refused.status_message  # says what the wallet has to fix
    for deposit in deposits:  # nothing of the failed transaction applied; they go again
        assert (row(deposit).status, row(deposit).submission_status) == ("pending_anchor", "ready")
    for wallet in wallets:
        unpaid(anchor, wallet)

    assert submit_deposit(deposits[1].id) == "succeeded"
    second = Submission.get(Submission.state == "succeeded")
    assert second.items.count() == 3 and too_big.id not in {i.transaction_id for i in second.items}
    for deposit in deposits:
        assert row(deposit).status == "completed" and row(deposit).stellar_transaction_id == second.hash
    for wallet, amount in zip(wallets, ("3", "4", "6"), strict=True):
        paid(anchor, wallet, amount)
    assert anchor.balance(full.public_key) == 0 and anchor.payments_to(full.public_key) == []
    assert anchor.balance(anchor.distribution.public_key) == before - 13
    assert row(too_big).status == "error"
    for deposit in deposits:  # the nudges the failure sent find nothing left to do
        assert submit_deposit(deposit.id) == "nothing to do"
    assert Submission.select().count() == 2
    assert rails.after == {d.id: 1 for d in deposits}


# --------------------------------------------------------------------------- after_deposit once


def test_after_deposit_once_even_when_the_completing_worker_dies_and_messages_repeat(
        anchor, rails, broker, monkeypatch, caplog):
    from anchor_dramatiq.deposits import outcomes

    wallet = anchor.wallet()
    deposit = anchor.deposit(wallet.public_key, "8")
    real = outcomes._succeeded

    def dies(*args, **kwargs):
        raise WorkerDied  # the submission is recorded as succeeded; the deposit is not completed yet

    monkeypatch.setattr(outcomes, "_succeeded", dies)
    with pytest.raises(WorkerDied):
        submit_deposit(deposit.id)
    monkeypatch.setattr(outcomes, "_succeeded", real)
    assert Submission.get().state == "succeeded" and row(deposit).status == "pending_anchor"
    assert rails.after == {}

    # The redelivered message, a sweep's nudge and a duplicate all run at once.
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(submit_deposit(deposit.id))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert row(deposit).status == "completed" and "succeeded" in results
    assert rails.after == {deposit.id: 1}
    assert submit_deposit(deposit.id) == "nothing to do"
    assert rails.after == {deposit.id: 1}
    paid(anchor, wallet, "8")
    assert Submission.select().count() == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
