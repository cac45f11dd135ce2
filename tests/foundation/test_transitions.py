"""Status changes: guarded compare-and-set, announced once after commit, to the rails too."""

import time
import uuid

from stellar_sdk import Keypair
from support.waiting import wait_until

from anchor_dramatiq import config
from anchor_dramatiq.integrations.sandbox import SandboxRails
from anchor_dramatiq.models import Asset, Transaction
from anchor_dramatiq.transitions import Move, _listeners, on_status_change, transition, transition_all


class RecordingRails(SandboxRails):
    seen: list = []

    def on_status_change(self, transaction, old_status):
        RecordingRails.seen.append((transaction.id, old_status, transaction.status))


def test_transition_is_a_guarded_compare_and_set(db):
    asset = Asset.create(code="USD", issuer=Keypair.random().public_key)
    row = Transaction.create(stellar_account="GA", asset=asset, kind="withdrawal",
                             status="pending_user_transfer_start")
    heard = []
    listener = on_status_change(lambda transaction, old, new: heard.append((transaction.id, old, new)))
    try:
        assert transition(row.id, ["pending_user_transfer_start"], "pending_anchor", amount_in="5")
        assert not transition(row.id, ["pending_user_transfer_start"], "pending_anchor")
        assert not transition(uuid.uuid4(), ["pending_user_transfer_start"], "pending_anchor")
    finally:
        _listeners.remove(listener)
    assert heard == [(row.id, "pending_user_transfer_start", "pending_anchor")]
    assert Transaction.get_by_id(row.id).amount_in == 5


def test_rails_hear_every_committed_change(db):
    import actors  # registers the rails listener  # noqa: F401
    from anchor_dramatiq.integrations import rails_for

    settings = config.get_settings().replace(rails=f"{__name__}:RecordingRails")
    config.configure(settings)
    rails_for.cache_clear()
    RecordingRails.seen.clear()
    asset = Asset.create(code="USD", issuer=Keypair.random().public_key)
    row = Transaction.create(stellar_account="GA", asset=asset, kind="deposit",
                             status="pending_user_transfer_start")
    assert transition(row.id, ["pending_user_transfer_start"], "error", status_message="bad")
    assert RecordingRails.seen == [(row.id, "pending_user_transfer_start", "error")]
    rails_for.cache_clear()


def test_malformed_ids_fail_for_good_at_once_with_the_reason_logged(db, caplog):
    """A message whose id can never parse is not retried six times before the dead letters."""
    import logging

    from dramatiq import Worker

    import actors

    caplog.set_level(logging.WARNING)
    broker = actors.broker
    broker.flush_all()
    worker = Worker(broker, worker_timeout=50, worker_threads=1)
    worker.start()
    try:
        for actor in (actors.deposits.submit_deposit, actors.withdrawals.execute_outgoing):
            actor.send("not-a-uuid")
        # Poll rather than broker.join(): an earlier test's stopped worker may have left
        # delayed messages counted as unfinished in the in-process broker's queues.
        wait_until(lambda: len(broker.dead_letters) == 2)
    finally:
        worker.stop()
    assert len(broker.dead_letters) == 2
    assert all(m.options.get("retries", 0) == 0 for m in broker.dead_letters)
    reasons = [r.getMessage() for r in caplog.records if "failed for good" in r.getMessage()]
    assert len(reasons) == 2 and all("not a transaction id: 'not-a-uuid'" in r for r in reasons)


def test_a_failing_sweep_is_logged_not_dead_lettered(db, caplog, monkeypatch):
    import logging

    from dramatiq import Worker

    import actors
    from anchor_dramatiq import deposits

    def broken(*args, **kwargs):
        raise RuntimeError("database restarting")

    monkeypatch.setattr(deposits, "check_trustlines", broken)
    caplog.set_level(logging.ERROR)
    broker = actors.broker
    broker.flush_all()
    worker = Worker(broker, worker_timeout=50, worker_threads=1)
    worker.start()
    def failure_logged() -> bool:
        return any("check_trustlines failed; the next tick runs it again" in r.getMessage()
                   for r in caplog.records)

    try:
        actors.deposits.check_trustlines.send()
        wait_until(failure_logged)
        time.sleep(0.3)  # long enough for a nack to reach the dead letters, were there one
    finally:
        worker.stop()
    assert broker.dead_letters == []


def test_transition_all_moves_every_row_with_its_own_fields_or_none(db):
    asset = Asset.create(code="USD", issuer=Keypair.random().public_key)
    rows = [Transaction.create(stellar_account="GA", asset=asset, kind="withdrawal",
                               status="pending_user_transfer_start") for _ in range(3)]
    heard = []
    listener = on_status_change(lambda transaction, old, new: heard.append((transaction.id, old, new)))
    try:
        assert transition_all([Move(row.id, ("pending_user_transfer_start",), "pending_anchor",
                                    {"amount_in": str(n + 1)}) for n, row in enumerate(rows[:2])])
        assert heard == [(rows[0].id, "pending_user_transfer_start", "pending_anchor"),
                         (rows[1].id, "pending_user_transfer_start", "pending_anchor")]
        # rows[0] moved already: nothing of this commit is kept, rows[2] stays where it was
        assert not transition_all([Move(row.id, ("pending_user_transfer_start",), "pending_anchor",
                                        {"amount_in": "9"}) for row in (rows[2], rows[0])])
        assert not transition_all([Move(rows[2].id, ("pending_user_transfer_start",), "pending_anchor"),
                                   Move(rows[2].id, ("pending_user_transfer_start",), "error")])
        assert not transition_all([Move(uuid.uuid4(), ("pending_user_transfer_start",), "pending_anchor")])
    finally:
        _listeners.remove(listener)
    assert len(heard) == 2
    moved = {row.id: Transaction.get_by_id(row.id) for row in rows}
    assert [(moved[row.id].status, moved[row.id].amount_in) for row in rows] == [
        ("pending_anchor", 1), ("pending_anchor", 2), ("pending_user_transfer_start", None)]
