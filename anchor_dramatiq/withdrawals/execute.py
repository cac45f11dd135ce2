"""``execute_outgoing``: hand a paid withdrawal or send to the rails integration, once per claim.

The transaction is claimed with a lease (``anchor_lease``), re-read, and passed to
``RailsIntegration.execute_outgoing_transaction``. Whatever the integration changed on
the row is saved with a guarded transition out of the ready status, which must land in
``pending_external``, ``completed``, ``error`` or ``pending_transaction_info_update``;
anything else is recorded as ``error`` with a message. Fees and ``amount_out`` are set
as Polaris 2.6 sets them. If the integration raises, the lease is let go at once so a
retry may take it; if the worker dies, the lease expires and the sweep retakes it.
"""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal
from typing import Any

from peewee import Expression

from anchor_dramatiq.config import Settings
from anchor_dramatiq.db import utcnow
from anchor_dramatiq.errors import PermanentError
from anchor_dramatiq.integrations import RailsIntegration
from anchor_dramatiq.models import Asset, Transaction
from anchor_dramatiq.payments.matching import WAITING_STATUS, WITHDRAWAL_KINDS, ready_status
from anchor_dramatiq.transitions import transition
from anchor_dramatiq.withdrawals import leases

log = logging.getLogger(__name__)

ACTION = "execute_outgoing"
RESULT_STATUSES = ("pending_external", "completed", "error", "pending_transaction_info_update")
MAX_ATTEMPTS = 10


def ready() -> Expression:
    """Paid and waiting for the payout: SEP-6/24 in ``pending_anchor``, SEP-31 in ``pending_receiver``."""
    return (((Transaction.kind.in_(WITHDRAWAL_KINDS)) & (Transaction.status == "pending_anchor"))
            | ((Transaction.kind == "send") & (Transaction.status == "pending_receiver")))


def payable(transaction: Transaction) -> bool:
    """A withdrawal or send in its paid status; a deposit in ``pending_anchor`` is not a payout."""
    return transaction.kind in WAITING_STATUS and transaction.status == ready_status(transaction)


def default_fee(transaction: Transaction) -> Decimal:
    """Polaris's ``calculate_fee``: the asset's fixed + percent fee for the operation."""
    asset: Asset = transaction.asset
    if transaction.kind == "send":
        fixed, percent = asset.send_fee_fixed, asset.send_fee_percent
    else:
        fixed, percent = asset.withdrawal_fee_fixed, asset.withdrawal_fee_percent
    if fixed is None and percent is None:
        return Decimal(0)
    fee = (fixed or Decimal(0)) + (percent or Decimal(0)) / Decimal(100) * transaction.amount_in
    return round(fee, asset.significant_decimals)


def result_fields(transaction: Transaction, before: dict[str, Any]) -> dict[str, Any]:
    """The columns to save after the integration ran, ``status`` included, validated."""
    changed = {name: value for name, value in transaction.__data__.items()
               if name not in ("id", "status") and before.get(name) != value}
    status = transaction.status
    if status not in RESULT_STATUSES:
        message = (f"execute_outgoing_transaction left status {status!r}; "
                   f"expected one of {', '.join(RESULT_STATUSES)}")
        return {**changed, "status": "error", "status_message": message}
    if status in ("pending_external", "completed"):
        if transaction.quote_id and (transaction.amount_fee is None or transaction.amount_out is None):
            return {**changed, "status": "error", "status_message":
                    "transaction uses a quote but execute_outgoing_transaction set no "
                    "amount_fee or amount_out"}
        if transaction.amount_in is None:
            return {**changed, "status": "error", "status_message": "paid transaction has no amount_in"}
        if transaction.amount_fee is None:
            changed["amount_fee"] = default_fee(transaction)
        if not transaction.quote_id:
            fee = changed.get("amount_fee", transaction.amount_fee)
            changed["amount_out"] = round(transaction.amount_in - fee,
                                          transaction.asset.significant_decimals)
        if status == "completed" and transaction.completed_at is None:
            changed["completed_at"] = utcnow()
    return {**changed, "status": status}


def execute_outgoing(transaction_id: uuid.UUID, rails: RailsIntegration, settings: Settings) -> str:
    """Claim and execute one payout; returns what happened (``held``, ``not_ready``, or the new status)."""
    transaction = Transaction.get_or_none(Transaction.id == transaction_id)
    if transaction is None:
        raise PermanentError(f"transaction {transaction_id} does not exist")
    if not payable(transaction):
        return "not_ready"
    owner = leases.new_owner()
    lease = leases.claim(transaction.id, ACTION, owner, settings.claim_timeout)
    if lease is None:
        log.info("transaction %s: payout already claimed by %s", transaction_id, "another worker",
                 extra={"transaction_id": transaction_id})
        return "held"
    transaction = (Transaction.select(Transaction, Asset).join(Asset)
                   .where(Transaction.id == transaction_id).get())
    from_status = ready_status(transaction)
    if transaction.status != from_status:
        leases.release(transaction.id, ACTION, owner, forget=True)
        return "not_ready"
    if lease.attempts > MAX_ATTEMPTS:
        transition(transaction.id, [from_status], "error",
                   status_message=f"payout not settled after {MAX_ATTEMPTS} attempts; see the worker logs")
        leases.release(transaction.id, ACTION, owner, forget=True)
        return "error"
    before = dict(transaction.__data__)
    try:
        rails.execute_outgoing_transaction(transaction)
    except Exception:
        log.exception("transaction %s: execute_outgoing_transaction raised (attempt %s)",
                      transaction_id, lease.attempts, extra={"transaction_id": transaction_id})
        leases.release(transaction.id, ACTION, owner, forget=False)
        raise
    fields = result_fields(transaction, before)
    status = fields.pop("status")
    if not transition(transaction.id, [from_status], status, **fields):
        log.warning("transaction %s left %s while its payout ran; result not saved", transaction_id,
                    from_status, extra={"transaction_id": transaction_id})
    leases.release(transaction.id, ACTION, owner, forget=True)
    return status


def due(limit: int = 500) -> list[uuid.UUID]:
    """Ready payouts nobody holds a live claim on: what the sweep re-sends."""
    held = leases.held(ACTION)
    query = (Transaction.select(Transaction.id).where(ready())
             .order_by(Transaction.started_at).limit(limit + len(held)))
    return [row.id for row in query if row.id not in held][:limit]
