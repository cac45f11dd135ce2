"""submit_deposit on simnet: every Polaris case, checked in the database and on the ledger."""

from __future__ import annotations

from decimal import Decimal

from anchor_dramatiq.deposits import submit_deposit
from anchor_dramatiq.models import Submission, Transaction


def reload(transaction: Transaction) -> Transaction:
    return Transaction.get_by_id(transaction.id)


def test_pays_a_ready_deposit_once(anchor):
    wallet = anchor.wallet()
    deposit = anchor.deposit(wallet.public_key, "12.5")
    assert submit_deposit(deposit.id) == "succeeded"
    row = reload(deposit)
    assert row.status == "completed" and row.submission_status == "completed"
    assert row.amount_out == Decimal("12.5") and row.completed_at is not None
    submission = Submission.get()
    assert row.stellar_transaction_id == submission.hash and row.paging_token == submission.paging_token
    assert submission.state == "succeeded" and submission.ledger
    assert anchor.balance(wallet.public_key) == Decimal("12.5")
    assert len(anchor.payments_to(wallet.public_key)) == 1
    # A second message for the same deposit is a no-op.
    assert submit_deposit(deposit.id) == "nothing to do"
    assert len(anchor.payments_to(wallet.public_key)) == 1
