"""Bad-input corpus, messages: garbage and unknown ids, the wrong state, replays of old messages.

Each message is handed to the actor body exactly as a worker would run it. A message that
cannot be acted on either raises an error that fails it (Dramatiq moves it to the
dead-letter queue) or is acknowledged as a no-op; either way no row changes and no money
moves (the payout rails count their calls).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from stellar_sdk import Keypair
from support.factories import make_asset, make_withdrawal, payment_record
from support.rails import CountingRails, calls

from anchor_dramatiq import config
from anchor_dramatiq.errors import PermanentError
from anchor_dramatiq.models import Lease, Payment, Submission, Transaction
from anchor_dramatiq.periodic import claim_tick, tick_minute
from anchor_dramatiq.streaming.cursor import record_event
from anchor_dramatiq.withdrawals.execute import execute_outgoing


@pytest.fixture
def rails_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "rails.log"
    monkeypatch.setenv("ANCHOR_TEST_RAILS_LOG", str(log))
    return log


def snapshot() -> list[tuple]:
    """Every transaction's id, status and amounts: what a bad message must leave alone."""
    return [(t.id, t.status, t.submission_status, t.amount_in, t.stellar_transaction_id)
            for t in Transaction.select().order_by(Transaction.id)]


def deposit(asset, status: str = "pending_anchor", **fields) -> Transaction:
    destination = Keypair.random().public_key
    return Transaction.create(id=uuid.uuid4(), kind="deposit", protocol="sep24", status=status,
                              asset=asset, amount_in=Decimal("5"), amount_fee=Decimal(0),
                              amount_out=Decimal("5"), submission_status="ready",
                              stellar_account=destination, to_address=destination, **fields)


@pytest.fixture
def rows(db: str):
    asset, account = make_asset()
    waiting = make_withdrawal(asset, account, memo="m-wait")
    return asset, account, waiting


@pytest.mark.parametrize("garbage", ["", "not-a-uuid", "'; DROP TABLE polaris_transaction; --", "1" * 500])
def test_execute_outgoing_with_a_garbage_id_fails_and_changes_nothing(broker, rows, rails_log, garbage
                                                                      ) -> None:
    import actors.withdrawals

    before = snapshot()
    with pytest.raises(PermanentError, match="not a transaction id"):
        actors.withdrawals.execute_outgoing.fn(garbage)
    assert snapshot() == before and calls(rails_log) == []


def test_execute_outgoing_with_an_unknown_id_is_a_permanent_error(broker, rows, rails_log) -> None:
    import actors.withdrawals

    with pytest.raises(PermanentError, match="does not exist"):
        actors.withdrawals.execute_outgoing.fn(str(uuid.uuid4()))
    assert calls(rails_log) == []


@pytest.mark.parametrize("garbage", ["", "not-an-operation", str(2**70)])
def test_process_payment_with_an_unknown_or_garbage_id_is_a_permanent_error(broker, rows, garbage) -> None:
    import actors.payments

    before = snapshot()
    with pytest.raises(PermanentError, match="not recorded"):
        actors.payments.process_payment.fn(garbage)
    assert snapshot() == before and Payment.select().count() == 0


@pytest.mark.parametrize("garbage", ["not-a-uuid", str(uuid.uuid4())], ids=["not-a-uuid", "unknown-uuid"])
def test_submit_deposit_with_a_garbage_or_unknown_id_pays_nothing(broker, rows, garbage) -> None:
    import actors.deposits

    before = snapshot()
    if garbage == "not-a-uuid":  # fails for good at once, with the reason
        with pytest.raises(PermanentError, match="not a transaction id"):
            actors.deposits.submit_deposit.fn(garbage)
    else:
        actors.deposits.submit_deposit.fn(garbage)
    assert snapshot() == before and Submission.select().count() == 0


def test_execute_outgoing_for_a_withdrawal_still_waiting_for_its_payment(rows, rails_log) -> None:
    _, _, waiting = rows
    assert execute_outgoing(waiting.id, CountingRails(), config.get_settings()) == "not_ready"
    assert calls(rails_log) == []
    assert Transaction.get_by_id(waiting.id).status == "pending_user_transfer_start"


def test_execute_outgoing_for_a_deposit_never_calls_the_payout_rails(rows, rails_log) -> None:
    """A deposit waiting in pending_anchor for its Stellar payment is not a paid withdrawal."""
    asset, _, _ = rows
    row = deposit(asset)
    result = execute_outgoing(row.id, CountingRails(), config.get_settings())
    assert calls(rails_log) == [], "the payout rails were called for a deposit"
    assert result == "not_ready"
    after = Transaction.get_by_id(row.id)
    assert (after.status, after.submission_status) == ("pending_anchor", "ready")


def test_replayed_execute_outgoing_after_the_payout_calls_the_rails_once(rows, rails_log) -> None:
    asset, account, waiting = rows
    record_event(payment_record(account, asset, memo="m-wait"), account)
    import actors.payments

    [payment] = Payment.select()
    assert actors.payments.process_payment.fn(payment.operation_id) is None  # sends execute_outgoing
    rails = CountingRails()
    assert execute_outgoing(waiting.id, rails, config.get_settings()) == "pending_external"
    for _ in range(3):  # the same message redelivered, and an old copy from a dead-letter queue
        assert execute_outgoing(waiting.id, rails, config.get_settings()) == "not_ready"
    assert calls(rails_log) == [str(waiting.id)]
    assert Lease.select().count() == 0


def test_replayed_process_payment_changes_nothing(broker, rows) -> None:
    asset, account, waiting = rows
    record = payment_record(account, asset, "12", memo="m-wait")
    record_event(record, account)
    import actors.payments

    actors.payments.process_payment.fn(record["id"])
    matched = snapshot()
    for _ in range(3):
        actors.payments.process_payment.fn(record["id"])
    assert not record_event(record, account)  # the streamer replaying the record: no second row
    assert snapshot() == matched and Payment.select().count() == 1
    assert Transaction.get_by_id(waiting.id).amount_in == Decimal("12")


@pytest.mark.parametrize("status", ["completed", "error", "pending_trust", "pending_user_transfer_start"])
def test_submit_deposit_for_a_deposit_in_the_wrong_state_pays_nothing(broker, rows, status) -> None:
    import actors.deposits

    asset, _, _ = rows
    row = deposit(asset, status=status)
    before = snapshot()
    actors.deposits.submit_deposit.fn(str(row.id))  # returns before any Horizon call
    assert snapshot() == before and Submission.select().count() == 0


def test_submit_deposit_for_a_withdrawal_pays_nothing(broker, rows) -> None:
    import actors.deposits

    asset, account, _ = rows
    paid = make_withdrawal(asset, account, memo="m-paid", status="pending_anchor")
    before = snapshot()
    actors.deposits.submit_deposit.fn(str(paid.id))
    assert snapshot() == before and Submission.select().count() == 0


def test_a_replayed_periodic_tick_fans_out_once(db: str) -> None:
    """periodiq restarted inside the minute sends the minute's tick again, with another second."""
    first, replay = "2026-11-24T10:15:02+00:00", "2026-11-24T11:15:40+01:00"
    assert tick_minute(first) == tick_minute(replay)
    assert claim_tick("poll_pending_deposits_tick", tick_minute(first))
    assert not claim_tick("poll_pending_deposits_tick", tick_minute(replay))
    assert claim_tick("poll_pending_deposits_tick", tick_minute("2026-11-24T10:16:00+00:00"))


def test_concurrent_copy_of_process_payment_records_the_match(broker, rows, monkeypatch) -> None:
    """Found by the full chaos run: a redelivered ``process_payment`` running while the first copy
    matches. The copy looks for a finished match first (none yet), then the first copy moves the
    withdrawal, then the copy decides: the withdrawal no longer waits. The payment must still be
    recorded as matched to it, not as an unmatched payment an operator would refund."""
    import anchor_dramatiq.payments.process as process
    from anchor_dramatiq.transitions import transition

    asset, account, waiting = rows
    record = payment_record(account, asset, "10", memo="m-wait")
    record_event(record, account)
    real_decide = process.decide

    def first_copy_matches_in_between(payment, *args):
        transition(waiting.id, ["pending_user_transfer_start"], "pending_anchor", amount_in=Decimal("10"),
                   from_address=payment.from_address, stellar_transaction_id=payment.transaction_hash,
                   paging_token=payment.paging_token)
        return real_decide(payment, *args)

    monkeypatch.setattr(process, "decide", first_copy_matches_in_between)
    process.process_payment(record["id"])
    payment = Payment.get(Payment.operation_id == record["id"])
    assert (payment.outcome, payment.transaction_id) == ("matched", waiting.id), payment.reason
    assert Transaction.get_by_id(waiting.id).status == "pending_anchor"
