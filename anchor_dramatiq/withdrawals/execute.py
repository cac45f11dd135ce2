"""``execute_outgoing``: hand a paid withdrawal or send to the rails integration, at most once.

The transaction is claimed with a lease (``anchor_lease``, on the database's clock, renewed
by a heartbeat while the rails work), re-read, and a payout record (``anchor_payout``) is
committed before ``RailsIntegration.execute_outgoing_transaction`` is called with the
payout's idempotency key. Whatever the integration changed on the row is validated and
saved, fenced by the claim, together with the payout record: the status must land in
``pending_external``, ``completed``, ``error`` or ``pending_transaction_info_update``
(anything else is recorded as ``error`` with a message), and fees and ``amount_out`` are
set as Polaris 2.6 sets them. Once the call has started, any failure — the rails raising,
a result that cannot be saved, the claim lost, the worker killed — holds the payout for
``payout_status`` or a person instead of calling the rails again (unless the integration
declared its payouts idempotent).
"""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal
from typing import Any

from peewee import JOIN, Expression

from anchor_dramatiq import dbclock
from anchor_dramatiq.config import Settings
from anchor_dramatiq.crashpoints import crash_point
from anchor_dramatiq.db import utcnow
from anchor_dramatiq.errors import PermanentError
from anchor_dramatiq.integrations import RailsIntegration, call_payout
from anchor_dramatiq.models import Asset, Lease, Payout, Transaction
from anchor_dramatiq.transitions import announce
from anchor_dramatiq.vocabulary import (
    WAITING_STATUS,
    WITHDRAWAL_KINDS,
    PayoutResult,
    PayoutState,
    SaveResult,
    TransactionKind,
    TransactionStatus,
    ready_status,
)
from anchor_dramatiq.withdrawals import leases, payouts

log = logging.getLogger(__name__)

ACTION = "execute_outgoing"
RESULT_STATUSES = (TransactionStatus.PENDING_EXTERNAL, TransactionStatus.COMPLETED, TransactionStatus.ERROR,
                   TransactionStatus.PENDING_TRANSACTION_INFO_UPDATE)
NUDGE_INTERVAL_S = 60  # a lost message is re-sent after this; a queued one is not piled up


def ready() -> Expression:
    """Paid and waiting for the payout: SEP-6/24 in ``pending_anchor``, SEP-31 in ``pending_receiver``."""
    return (((Transaction.kind.in_(WITHDRAWAL_KINDS))
             & (Transaction.status == TransactionStatus.PENDING_ANCHOR))
            | ((Transaction.kind == TransactionKind.SEND)
               & (Transaction.status == TransactionStatus.PENDING_RECEIVER)))


def payable(transaction: Transaction) -> bool:
    """A withdrawal or send in its paid status; a deposit in ``pending_anchor`` is not a payout."""
    return transaction.kind in WAITING_STATUS and transaction.status == ready_status(transaction.kind)


def default_fee(transaction: Transaction) -> Decimal:
    """Polaris's ``calculate_fee``: the asset's fixed + percent fee for the operation."""
    asset: Asset = transaction.asset
    if transaction.kind == TransactionKind.SEND:
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
        return {**changed, "status": TransactionStatus.ERROR, "status_message": message}
    if status in (TransactionStatus.PENDING_EXTERNAL, TransactionStatus.COMPLETED):
        if transaction.quote_id and (transaction.amount_fee is None or transaction.amount_out is None):
            return {**changed, "status": TransactionStatus.ERROR, "status_message":
                    "transaction uses a quote but execute_outgoing_transaction set no "
                    "amount_fee or amount_out"}
        if transaction.amount_in is None:
            return {**changed, "status": TransactionStatus.ERROR,
                    "status_message": "paid transaction has no amount_in"}
        if transaction.amount_fee is None:
            changed["amount_fee"] = default_fee(transaction)
        if not transaction.quote_id:
            fee = changed.get("amount_fee", transaction.amount_fee)
            changed["amount_out"] = round(transaction.amount_in - fee,
                                          transaction.asset.significant_decimals)
        if status == TransactionStatus.COMPLETED and transaction.completed_at is None:
            changed["completed_at"] = utcnow()
    return {**changed, "status": status}


def execute_outgoing(transaction_id: uuid.UUID, rails: RailsIntegration, settings: Settings) -> str:
    """Claim and execute one payout; returns what happened: ``held`` (claimed elsewhere),
    ``not_ready``, ``payout_held`` (needs ``payout_status`` or a person), ``lost`` (our claim
    was taken), or the new status.

    Raises :class:`PermanentError` for a transaction that does not exist; re-raises what the
    rails raised when the integration's payouts are idempotent (released for a retry with
    the same key, which Dramatiq makes).
    """
    transaction = Transaction.get_or_none(Transaction.id == transaction_id)
    if transaction is None:
        raise PermanentError(f"transaction {transaction_id} does not exist")
    if not payable(transaction):
        return PayoutResult.NOT_READY
    owner = leases.new_owner()
    lease = leases.claim(transaction.id, ACTION, owner, settings.claim_timeout)
    if lease is None:
        log.info("transaction %s: payout already claimed by another worker", transaction_id,
                 extra={"transaction_id": transaction_id})
        return PayoutResult.HELD
    try:
        return _execute_claimed(transaction_id, lease, rails, settings.claim_timeout)
    finally:
        _let_go(transaction_id, owner)


def _let_go(transaction_id: uuid.UUID, owner: str) -> None:
    """Drop our claim; if the database is unreachable it simply expires (the payout record decides)."""
    try:
        leases.release(transaction_id, ACTION, owner, forget=True)
    except Exception:
        log.exception("transaction %s: releasing the payout claim failed; it will expire",
                      transaction_id, extra={"transaction_id": transaction_id})


def _execute_claimed(transaction_id: uuid.UUID, lease: Lease, rails: RailsIntegration, seconds: int) -> str:
    transaction = (Transaction.select(Transaction, Asset).join(Asset)
                   .where(Transaction.id == transaction_id).get())
    from_status = ready_status(transaction.kind)
    if transaction.status != from_status:
        return PayoutResult.NOT_READY
    payout, outcome = payouts.begin(transaction_id, lease, rails, seconds)
    if outcome != PayoutResult.CALL:
        return outcome
    assert payout is not None  # begin returns the record it is about to call for
    before = dict(transaction.__data__)
    crash_point("payout_started")
    with leases.Heartbeat(lease, seconds) as heartbeat:
        try:
            call_payout(rails, transaction, payout.idempotency_key)
        except Exception as exc:
            return _after_raise(payout, rails, exc)
    crash_point("payout_returned")
    returned = (f"the rails call returned status {transaction.status!r}, external id "
                f"{transaction.external_transaction_id!r}")
    if heartbeat.lost.is_set():
        payouts.hold(payout, f"{returned}, but the claim was taken while it ran; result not saved")
        return PayoutResult.LOST
    try:
        fields = result_fields(transaction, before)
        status = fields.pop("status")
        saved = payouts.save_result(lease, payout, from_status, status, fields, seconds)
    except Exception as exc:
        log.exception("transaction %s: saving the payout result failed", transaction_id,
                      extra={"transaction_id": transaction_id})
        payouts.hold(payout, f"{returned}, but saving it failed ({type(exc).__name__}: {exc})")
        return PayoutResult.PAYOUT_HELD
    if saved == SaveResult.LOST:
        payouts.hold(payout, f"{returned}, but the claim was taken before it was saved; result not saved")
        return PayoutResult.LOST
    if saved == SaveResult.MOVED:
        payouts.hold(payout, f"{returned}, but the transaction left {from_status} while the call ran; "
                             "result not saved")
        return PayoutResult.PAYOUT_HELD
    log.info("transaction %s: %s -> %s", transaction_id, from_status, status,
             extra={"transaction_id": transaction_id})
    announce(transaction_id, from_status, status)
    return status


def _after_raise(payout: Payout, rails: RailsIntegration, exc: Exception) -> str:
    """The rails raised: the bank may have acted first, so hold — or, if idempotent, retry."""
    what = f"execute_outgoing_transaction raised {type(exc).__name__}: {exc}"
    log.error("transaction %s: %s (attempt %s)", payout.transaction_id, what, payout.attempt,
              exc_info=exc, extra={"transaction_id": payout.transaction_id})
    if rails.payouts_idempotent and payout.attempt < payouts.MAX_IDEMPOTENT_ATTEMPTS:
        payouts.release_for_retry(payout, f"{what}; retried with the same idempotency key")
        raise exc
    payouts.hold(payout, f"{what} (the bank may have acted before raising)")
    return PayoutResult.PAYOUT_HELD


def due(limit: int = 500, nudge_every: int = NUDGE_INTERVAL_S) -> list[uuid.UUID]:
    """Ready payouts with no live claim and no nudge in the last ``nudge_every`` seconds:
    what the sweep re-sends, least recently nudged first. Held and done payouts are left out."""
    live = leases.held(ACTION)
    query = (Transaction.select(Transaction.id)
             .join(Payout, JOIN.LEFT_OUTER, on=(Payout.transaction_id == Transaction.id))
             .where(ready() & (Payout.id.is_null() | (
                 Payout.state.in_(payouts.EXECUTABLE)
                 & (Payout.nudged_at.is_null() | (Payout.nudged_at < dbclock.shifted(-nudge_every)))))))
    query = (query.order_by(Payout.nudged_at.asc(nulls="first"), Transaction.started_at)
             .limit(limit + len(live)))
    return [row.id for row in query if row.id not in live][:limit]


def mark_nudged(transaction_ids: list[uuid.UUID]) -> None:
    """Record that the sweep re-sent these payouts, so the next sweeps leave them alone a while."""
    for transaction_id in transaction_ids:
        (Payout.insert(transaction_id=transaction_id, attempt=0, state=PayoutState.QUEUED,
                       idempotency_key=payouts.key_for(transaction_id), nudged_at=dbclock.now())
         .on_conflict(conflict_target=[Payout.transaction_id], update={Payout.nudged_at: dbclock.now()})
         .execute())
