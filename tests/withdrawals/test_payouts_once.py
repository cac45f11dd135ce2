"""Payouts at most once: the payout record, held payouts and their resolution, fenced leases
timed by the database, on both backends, counted against the rails' own calls."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

import peewee
import pytest
from click.testing import CliRunner
from support.rails import CountingRails, calls

from anchor_dramatiq import db as dbmodule
from anchor_dramatiq.cli import main
from anchor_dramatiq.config import get_settings
from anchor_dramatiq.db import utcnow
from anchor_dramatiq.integrations import PayoutStatus
from anchor_dramatiq.models import Lease, Payout, Transaction
from anchor_dramatiq.withdrawals import execute, leases, payouts
from anchor_dramatiq.withdrawals.resolve import settle_held

from .test_execute import paid


@pytest.fixture
def rails_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "rails.log"
    monkeypatch.setenv("ANCHOR_TEST_RAILS_LOG", str(log))
    return log


def expire_leases() -> None:
    """What the passing of ANCHOR_CLAIM_TIMEOUT does to a dead holder's lease."""
    Lease.update(expires_at=utcnow() - dt.timedelta(seconds=1)).execute()


def payout_of(transaction: Transaction) -> Payout:
    return Payout.get(Payout.transaction_id == transaction.id)


class KeyedRails(CountingRails):
    """Takes the idempotency key (and records it); ``payout_status`` answers ``answer``."""

    def __init__(self, answer: PayoutStatus = PayoutStatus.UNKNOWN) -> None:
        self.keys: list[str] = []
        self.answer = answer
        self.asked: list[str] = []

    def execute_outgoing_transaction(self, transaction: Transaction, idempotency_key: str = "") -> None:
        self.keys.append(idempotency_key)
        super().execute_outgoing_transaction(transaction)

    def payout_status(self, transaction: Transaction, key: str) -> PayoutStatus:
        self.asked.append(key)
        return self.answer


class FailsOnceIdempotent(KeyedRails):
    """A bank keyed on the idempotency key: a call may be repeated safely."""

    payouts_idempotent = True

    def execute_outgoing_transaction(self, transaction: Transaction, idempotency_key: str = "") -> None:
        super().execute_outgoing_transaction(transaction, idempotency_key)
        if len(self.keys) == 1:
            raise TimeoutError("bank timed out after accepting the payout")


class WrongType(CountingRails):
    def execute_outgoing_transaction(self, transaction: Transaction) -> None:
        super().execute_outgoing_transaction(transaction)
        transaction.amount_fee = 1.5  # a float: amounts are Decimal, so saving it fails


def test_key_is_passed_when_asked_for_and_polaris_signature_still_works(db: str, rails_log: Path) -> None:
    keyed, plain = paid(), paid()
    rails = KeyedRails()
    assert execute.execute_outgoing(keyed.id, rails, get_settings()) == "pending_external"
    assert execute.execute_outgoing(plain.id, CountingRails(), get_settings()) == "pending_external"
    assert rails.keys == [str(keyed.id)]
    assert payout_of(keyed).state == "done" and payout_of(keyed).idempotency_key == str(keyed.id)
    assert calls(rails_log) == [str(keyed.id), str(plain.id)]


def test_wrong_field_type_holds_the_payout_and_never_calls_again(db: str, rails_log: Path) -> None:
    transaction = paid()
    assert execute.execute_outgoing(transaction.id, WrongType(), get_settings()) == "payout_held"
    payout = payout_of(transaction)
    assert payout.state == "held" and "saving it failed" in payout.status_message
    assert "payouts resolve" in payout.status_message
    assert Transaction.get_by_id(transaction.id).status == "pending_anchor"
    expire_leases()
    assert execute.due() == []
    assert execute.execute_outgoing(transaction.id, CountingRails(), get_settings()) == "payout_held"
    assert calls(rails_log) == [str(transaction.id)]


def test_database_failing_after_the_rails_returned_holds_then_resolves_by_cli(
        db: str, rails_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The database goes away right after the bank call: nothing can be written, not even the
    hold. The next claim finds the payout started and holds it; a person resolves it."""
    transaction = paid(withdrawal_fee_fixed=Decimal("2"))

    def down(*args: object, **kwargs: object) -> None:
        raise peewee.OperationalError("server closed the connection unexpectedly")

    with monkeypatch.context() as patch:
        patch.setattr(payouts, "save_result", down)
        patch.setattr(payouts, "_hold_row", down)
        patch.setattr(leases, "release", down)
        with pytest.raises(peewee.OperationalError):
            execute.execute_outgoing(transaction.id, CountingRails(), get_settings())
    assert payout_of(transaction).state == "started"
    assert execute.execute_outgoing(transaction.id, CountingRails(), get_settings()) == "held"  # live lease
    expire_leases()
    assert execute.due() == [transaction.id]
    assert execute.execute_outgoing(transaction.id, CountingRails(), get_settings()) == "payout_held"
    assert "stopped" in payout_of(transaction).status_message
    assert calls(rails_log) == [str(transaction.id)]

    runner = CliRunner()
    listed = runner.invoke(main, ["payouts", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert str(transaction.id) in listed.output
    result = runner.invoke(main, ["payouts", "resolve", str(transaction.id), "--paid",
                                  "--external-id", "b-1"])
    assert result.exit_code == 0, result.output
    row = Transaction.get_by_id(transaction.id)
    assert (row.status, row.amount_fee, row.amount_out, row.external_transaction_id) == (
        "pending_external", Decimal("2"), Decimal("98"), "b-1")
    assert payout_of(transaction).state == "done"
    again = runner.invoke(main, ["payouts", "resolve", str(transaction.id), "--not-paid"])
    assert again.exit_code != 0 and "no held payout" in again.output
    assert calls(rails_log) == [str(transaction.id)]


def test_not_paid_releases_exactly_one_new_call(db: str, rails_log: Path) -> None:
    transaction = paid()
    assert execute.execute_outgoing(transaction.id, WrongType(), get_settings()) == "payout_held"
    result = CliRunner().invoke(main, ["payouts", "resolve", str(transaction.id), "--not-paid"])
    assert result.exit_code == 0, result.output
    assert execute.due() == [transaction.id]
    assert execute.execute_outgoing(transaction.id, WrongType(), get_settings()) == "payout_held"
    assert payout_of(transaction).attempt == 2
    assert execute.execute_outgoing(transaction.id, CountingRails(), get_settings()) == "payout_held"
    assert calls(rails_log) == [str(transaction.id)] * 2


def test_worker_killed_during_the_call_is_held(db: str, rails_log: Path) -> None:
    """A worker dies inside the call: its payout stays started and its lease stops being renewed."""
    transaction = paid()
    lease = leases.claim(transaction.id, execute.ACTION, "worker-that-dies", 30)
    payout, outcome = payouts.begin(transaction.id, lease, CountingRails(), 30)
    assert outcome == "call" and payout.state == "started"
    expire_leases()
    assert execute.execute_outgoing(transaction.id, CountingRails(), get_settings()) == "payout_held"
    assert calls(rails_log) == []
    assert payout_of(transaction).state == "held"


@pytest.mark.parametrize("answer, state, status", [
    (PayoutStatus.PAID, "done", "pending_external"),
    (PayoutStatus.NOT_PAID, "released", "pending_anchor"),
    (PayoutStatus.UNKNOWN, "held", "pending_anchor"),
])
def test_payout_status_settles_held_payouts(db: str, rails_log: Path, answer: PayoutStatus, state: str,
                                            status: str) -> None:
    transaction = paid()
    assert execute.execute_outgoing(transaction.id, WrongType(), get_settings()) == "payout_held"
    rails = KeyedRails(answer)
    assert settle_held(rails)[answer.value] == 1
    assert rails.asked == [str(transaction.id)]
    assert (payout_of(transaction).state, Transaction.get_by_id(transaction.id).status) == (state, status)
    if answer is PayoutStatus.PAID:
        assert Transaction.get_by_id(transaction.id).amount_out == Decimal("100")
    if answer is PayoutStatus.NOT_PAID:
        assert execute.execute_outgoing(transaction.id, rails, get_settings()) == "pending_external"
        assert rails.keys == [str(transaction.id)]
    assert len(calls(rails_log)) == (2 if answer is PayoutStatus.NOT_PAID else 1)


def test_idempotent_integration_is_called_again_with_the_same_key(db: str, rails_log: Path) -> None:
    transaction = paid()
    rails = FailsOnceIdempotent()
    with pytest.raises(TimeoutError):
        execute.execute_outgoing(transaction.id, rails, get_settings())
    assert payout_of(transaction).state == "released"
    assert execute.due() == [transaction.id]
    assert execute.execute_outgoing(transaction.id, rails, get_settings()) == "pending_external"
    # Killed mid-call on an idempotent integration: called again with the same key too.
    other = paid()
    lease = leases.claim(other.id, execute.ACTION, "worker-that-dies", 30)
    payouts.begin(other.id, lease, rails, 30)
    expire_leases()
    assert execute.execute_outgoing(other.id, rails, get_settings()) == "pending_external"
    assert rails.keys == [str(transaction.id)] * 2 + [str(other.id)]
    assert payout_of(other).attempt == 2


class Slow(CountingRails):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def execute_outgoing_transaction(self, transaction: Transaction) -> None:
        time.sleep(self.seconds)
        super().execute_outgoing_transaction(transaction)


def test_call_longer_than_the_claim_gets_no_second_concurrent_call(db: str, rails_log: Path) -> None:
    transaction = paid()
    settings = dataclasses.replace(get_settings(), claim_timeout=1)
    outcomes: list[str] = []
    first = threading.Thread(target=lambda: outcomes.append(
        execute.execute_outgoing(transaction.id, Slow(3.5), settings)))
    first.start()
    time.sleep(0.3)
    others = []
    while first.is_alive():  # the sweep and redeliveries keep trying while the bank is slow
        others.append(execute.execute_outgoing(transaction.id, CountingRails(), settings))
        assert transaction.id not in execute.due() or not first.is_alive()
        time.sleep(0.4)
    first.join()
    assert outcomes == ["pending_external"]
    assert set(others) <= {"held", "not_ready"} and "held" in others
    assert calls(rails_log) == [str(transaction.id)]


def test_a_holder_that_lost_its_lease_cannot_save(db: str, rails_log: Path) -> None:
    transaction = paid()
    old = leases.claim(transaction.id, execute.ACTION, "slow-worker", 30)
    payout, _ = payouts.begin(transaction.id, old, CountingRails(), 30)
    expire_leases()
    new = leases.claim(transaction.id, execute.ACTION, "next-worker", 30)
    assert new.fence > old.fence
    assert not leases.renew(old, 30)
    assert payouts.save_result(old, payout, "pending_anchor", "pending_external", {}, 30) == "lost"
    assert Transaction.get_by_id(transaction.id).status == "pending_anchor"
    assert payouts.begin(transaction.id, old, CountingRails(), 30) == (None, "lost")
    assert leases.renew(new, 30)


def test_skewed_clocks_cannot_both_hold_a_lease(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A host whose clock runs ten minutes ahead sees nothing expired: expiry is the database's."""
    transaction_id = uuid.uuid4()
    assert leases.claim(transaction_id, execute.ACTION, "host-a", 60)
    ahead = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)  # noqa: E731
    monkeypatch.setattr(dbmodule, "utcnow", ahead)
    monkeypatch.setattr(leases, "utcnow", ahead, raising=False)
    assert leases.claim(transaction_id, execute.ACTION, "host-b-ahead", 60) is None
    assert leases.held(execute.ACTION) == {transaction_id}


def test_sweep_does_not_pile_up_messages_for_a_queued_payout(db: str) -> None:
    transaction = paid()
    assert execute.due() == [transaction.id]
    execute.mark_nudged([transaction.id])
    assert execute.due() == []  # nudged a moment ago: its message is still on its way
    assert execute.due(nudge_every=0) == [transaction.id]


def test_held_payouts_are_shown_by_status_and_counted_in_metrics(db: str, rails_log: Path) -> None:
    from anchor_dramatiq.metrics import registry

    transaction = paid()
    assert execute.execute_outgoing(transaction.id, WrongType(), get_settings()) == "payout_held"
    result = CliRunner().invoke(main, ["status", "--json", "--no-horizon"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["held_payout_count"] == 1
    assert data["held_payouts"][0]["transaction_id"] == str(transaction.id)
    text = CliRunner().invoke(main, ["status", "--no-horizon"]).output
    assert "held payouts: 1" in text and str(transaction.id) in text
    assert registry().get_sample_value("anchor_payouts_held") == 1


def test_counting_rails_with_status_settle_a_killed_workers_payout(db: str, rails_log: Path) -> None:
    """The rails the chaos run can use: a payout held after a killed worker settles as paid."""
    from support.rails import SettlingCountingRails

    transaction, untouched = paid(), paid()
    for row in (transaction, untouched):
        lease = leases.claim(row.id, execute.ACTION, "worker-that-dies", 30)
        payouts.begin(row.id, lease, CountingRails(), 30)
    CountingRails().execute_outgoing_transaction(transaction)  # the dying worker's call reached the bank
    expire_leases()
    for row in (transaction, untouched):
        assert execute.execute_outgoing(row.id, SettlingCountingRails(), get_settings()) == "payout_held"
    assert settle_held(SettlingCountingRails()) == {"paid": 1, "not_paid": 1, "unknown": 0}
    assert Transaction.get_by_id(transaction.id).status == "pending_external"
    rails = SettlingCountingRails()
    assert execute.execute_outgoing(untouched.id, rails, get_settings()) == "pending_external"
    assert sorted(calls(rails_log)) == sorted([str(transaction.id), str(untouched.id)])
