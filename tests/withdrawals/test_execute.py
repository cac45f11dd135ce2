"""execute_outgoing (once per claim, validated result, Polaris's fees) and poll_outgoing paging."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import pytest
from support.factories import make_asset, make_withdrawal
from support.rails import CountingRails, calls

from anchor_dramatiq.config import get_settings
from anchor_dramatiq.db import utcnow
from anchor_dramatiq.integrations import RailsIntegration
from anchor_dramatiq.models import Lease, Payout, Transaction
from anchor_dramatiq.withdrawals import execute, leases
from anchor_dramatiq.withdrawals.poll import poll_outgoing


@pytest.fixture
def rails_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "rails.log"
    monkeypatch.setenv("ANCHOR_TEST_RAILS_LOG", str(log))
    return log


def paid(kind: str = "withdrawal", **asset_fields) -> Transaction:
    asset, account = make_asset(**asset_fields)
    transaction = make_withdrawal(asset, account, memo="m", kind=kind,
                                  status="pending_receiver" if kind == "send" else "pending_anchor")
    Transaction.update(amount_in=Decimal("100")).where(Transaction.id == transaction.id).execute()
    return Transaction.get_by_id(transaction.id)


def test_payout_executes_once_with_polaris_fees(db: str, rails_log: Path) -> None:
    transaction = paid(withdrawal_fee_fixed=Decimal("1"), withdrawal_fee_percent=Decimal("2.5"))
    assert execute.execute_outgoing(transaction.id, CountingRails(), get_settings()) == "pending_external"
    row = Transaction.get_by_id(transaction.id)
    assert row.status == "pending_external"
    assert (row.amount_fee, row.amount_out) == (Decimal("3.50"), Decimal("96.50"))
    assert row.external_transaction_id == f"bank-{transaction.id.hex[:8]}"
    assert Lease.select().count() == 0
    # Redelivered after it finished: the status no longer calls for a payout.
    assert execute.execute_outgoing(transaction.id, CountingRails(), get_settings()) == "not_ready"
    assert calls(rails_log) == [str(transaction.id)]


def test_send_payout_uses_send_fees(db: str, rails_log: Path) -> None:
    transaction = paid(kind="send", send_fee_fixed=Decimal("5"))
    assert execute.execute_outgoing(transaction.id, CountingRails(), get_settings()) == "pending_external"
    assert Transaction.get_by_id(transaction.id).amount_out == Decimal("95")


def test_redelivery_while_the_claim_is_held_does_not_call_the_rails(db: str, rails_log: Path) -> None:
    transaction = paid()
    assert leases.claim(transaction.id, execute.ACTION, "worker-that-is-still-running", 300)
    assert execute.execute_outgoing(transaction.id, CountingRails(), get_settings()) == "held"
    assert calls(rails_log) == []
    assert execute.due() == []  # the sweep leaves a live claim alone


def test_expired_claim_is_retaken_by_the_sweep(db: str, rails_log: Path) -> None:
    transaction = paid()
    assert leases.claim(transaction.id, execute.ACTION, "worker-that-died", 300)
    Lease.update(expires_at=utcnow() - dt.timedelta(seconds=1)).execute()
    assert execute.due() == [transaction.id]
    assert execute.execute_outgoing(transaction.id, CountingRails(), get_settings()) == "pending_external"
    assert calls(rails_log) == [str(transaction.id)]


class LeavesStatus(RailsIntegration):
    def execute_outgoing_transaction(self, transaction: Transaction) -> None:
        transaction.external_transaction_id = "sent-but-status-untouched"


class Raises(RailsIntegration):
    def execute_outgoing_transaction(self, transaction: Transaction) -> None:
        raise ConnectionError("bank unreachable")


def test_result_in_a_wrong_status_is_recorded_as_error(db: str) -> None:
    transaction = paid()
    assert execute.execute_outgoing(transaction.id, LeavesStatus(), get_settings()) == "error"
    row = Transaction.get_by_id(transaction.id)
    assert row.status == "error" and "pending_anchor" in row.status_message
    assert row.external_transaction_id == "sent-but-status-untouched"  # what the rails did is kept


def test_rails_exception_holds_the_payout_instead_of_retrying(db: str, rails_log: Path) -> None:
    """The bank may have acted before raising: the payout waits for a person, never a second call."""
    transaction = paid()
    assert execute.execute_outgoing(transaction.id, Raises(), get_settings()) == "payout_held"
    assert Transaction.get_by_id(transaction.id).status == "pending_anchor"
    assert execute.due() == []
    assert execute.execute_outgoing(transaction.id, CountingRails(), get_settings()) == "payout_held"
    assert calls(rails_log) == []
    payout = Payout.get(Payout.transaction_id == transaction.id)
    assert payout.state == "held" and "ConnectionError: bank unreachable" in payout.status_message


class CompletesEvenIds(RailsIntegration):
    def __init__(self) -> None:
        self.pages: list[int] = []

    def poll_outgoing_transactions(self, transactions: Sequence[Transaction]) -> list[Transaction]:
        self.pages.append(len(transactions))
        return [t for t in transactions if t.external_transaction_id.endswith(("0", "2", "4"))]


def test_poll_outgoing_pages_and_completes(db: str) -> None:
    asset, account = make_asset()
    for i in range(5):
        t = make_withdrawal(asset, account, memo=f"p{i}", status="pending_external")
        Transaction.update(external_transaction_id=f"bank-{i}").where(Transaction.id == t.id).execute()
    rails = CompletesEvenIds()
    assert poll_outgoing(rails, page_size=2) == 3
    assert rails.pages == [2, 2, 1]
    completed = Transaction.select().where(Transaction.status == "completed")
    assert {t.external_transaction_id for t in completed} == {"bank-0", "bank-2", "bank-4"}
    assert all(t.completed_at is not None for t in completed)
