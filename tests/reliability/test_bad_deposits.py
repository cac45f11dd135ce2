"""Bad-input corpus, funded deposits: what a buggy rails integration reports is validated.

``poll_pending_deposits`` runs with rails that return each waiting deposit rewritten in a
bad way. A bad amount puts the deposit in ``error`` with a message that names the problem
(nothing is enqueued, nothing paid); a row that is not one of the deposits it was given is
ignored and logged, and the row itself is left exactly as it was.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest
from stellar_sdk import Keypair
from support.factories import make_asset, make_withdrawal

from anchor_dramatiq import config
from anchor_dramatiq.deposits.poll import poll_pending_deposits
from anchor_dramatiq.models import Submission, Transaction
from reliability.rails import JunkDepositRails

RAILS = "reliability.rails:JunkDepositRails"


def with_amounts(amount_in, amount_fee=None, amount_out=None) -> Callable[[Transaction], Transaction]:
    def report(transaction: Transaction) -> Transaction:
        transaction.amount_in = amount_in
        transaction.amount_fee, transaction.amount_out = amount_fee, amount_out
        return transaction
    return report


# name: (what the rails report, words the recorded status_message must contain)
REJECTED: dict[str, tuple[Callable[[Transaction], Transaction], str]] = {
    "no_amount": (with_amounts(None), "without amount_in"),
    "negative_amount": (with_amounts(Decimal("-5")), "not positive"),
    "zero_amount": (with_amounts(Decimal("0")), "not positive"),
    "more_than_7_decimals": (with_amounts(Decimal("1.12345678")), "more than 7 decimal places"),
    "not_a_number": (with_amounts("ten dollars"), "not a decimal amount"),
    "infinite_amount": (with_amounts(Decimal("Infinity")), "not a finite amount"),
    "float_with_binary_noise": (with_amounts(0.1 + 0.2), "more than 7 decimal places"),
    "fee_above_amount": (with_amounts(Decimal("5"), Decimal("6")), "nothing to send"),
    "negative_fee": (with_amounts(Decimal("5"), Decimal("-1")), "negative"),
    "amount_out_above_in_minus_fee": (with_amounts(Decimal("5"), Decimal("1"), Decimal("4.5")), "exceeds"),
}


@pytest.fixture
def junk_rails(db: str, broker) -> type[JunkDepositRails]:
    config.configure(config.get_settings().replace(rails=RAILS))
    yield JunkDepositRails
    JunkDepositRails.report = staticmethod(lambda t: t)


def waiting_deposit(asset, **fields) -> Transaction:
    destination = Keypair.random().public_key
    return Transaction.create(id=uuid.uuid4(), kind="deposit", protocol="sep24",
                              status="pending_user_transfer_start", asset=asset,
                              amount_expected=Decimal("5"), stellar_account=destination,
                              to_address=destination, **fields)


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_bad_amount_from_the_rails_is_recorded_as_error(junk_rails, broker, name) -> None:
    report, words = REJECTED[name]
    junk_rails.report = staticmethod(report)
    asset, _ = make_asset(significant_decimals=7)
    deposit = waiting_deposit(asset)
    assert poll_pending_deposits() == 0
    row = Transaction.get_by_id(deposit.id)
    assert (row.status, row.submission_status) == ("error", "failed")
    assert words in row.status_message, row.status_message
    assert row.amount_in is None  # the bad figure is not recorded as received
    assert broker.queues.get("stellar") is None or broker.queues["stellar"].qsize() == 0
    assert Submission.select().count() == 0


def test_rails_returning_a_withdrawal_is_ignored(junk_rails, broker, caplog) -> None:
    asset, account = make_asset()
    deposit = waiting_deposit(asset)
    withdrawal = make_withdrawal(asset, account, memo="w")
    junk_rails.report = staticmethod(lambda t: Transaction.get_by_id(withdrawal.id))
    assert poll_pending_deposits() == 0
    assert "not a deposit it was given" in caplog.text
    assert Transaction.get_by_id(withdrawal.id).status == "pending_user_transfer_start"
    assert Transaction.get_by_id(deposit.id).status == "pending_user_transfer_start"  # polled again later


def test_rails_returning_the_wrong_kind_is_ignored(junk_rails, broker, caplog) -> None:
    asset, _ = make_asset()
    deposit = waiting_deposit(asset)

    def as_withdrawal(t: Transaction) -> Transaction:
        t.kind, t.amount_in = "withdrawal", Decimal("5")
        return t

    junk_rails.report = staticmethod(as_withdrawal)
    assert poll_pending_deposits() == 0
    assert "not a deposit it was given" in caplog.text
    row = Transaction.get_by_id(deposit.id)
    assert (row.kind, row.status, row.amount_in) == ("deposit", "pending_user_transfer_start", None)


def test_rails_returning_something_that_is_not_a_row_is_ignored(junk_rails, broker, caplog) -> None:
    asset, _ = make_asset()
    deposit = waiting_deposit(asset)
    junk_rails.report = staticmethod(lambda t: {"id": str(t.id), "amount_in": "5"})
    assert poll_pending_deposits() == 0
    assert "not a deposit it was given" in caplog.text
    assert Transaction.get_by_id(deposit.id).status == "pending_user_transfer_start"


def test_a_good_deposit_is_paid_beside_a_bad_one(junk_rails, broker) -> None:
    asset, _ = make_asset(significant_decimals=7)
    good, bad = waiting_deposit(asset, memo="good"), waiting_deposit(asset, memo="bad")
    junk_rails.report = staticmethod(
        lambda t: with_amounts(Decimal("5") if t.memo == "good" else Decimal("-5"))(t))
    assert poll_pending_deposits() == 1
    assert Transaction.get_by_id(good.id).submission_status == "ready"
    assert Transaction.get_by_id(bad.id).status == "error"
    assert broker.queues["stellar"].qsize() == 1  # submit_deposit for the good one only
