"""Re-match: an unmatched or late payment is matched when its transaction starts waiting.

A wallet may pay before the anchor's API server has moved the transaction to
``pending_user_transfer_start`` (or a transaction may be re-opened). The maintenance sweep
looks again at every ``unmatched``/``late`` payment with a memo that arrived within
``ANCHOR_REMATCH_WINDOW`` and has no refund; one that now matches is taken back (under the
payment's lock, so a refund requested at the same moment and a match exclude each other)
and processed like a new payment.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from anchor_dramatiq.config import Settings
from anchor_dramatiq.db import utcnow
from anchor_dramatiq.models import Payment, Refund
from anchor_dramatiq.payments.claims import locked_payment
from anchor_dramatiq.payments.matching import decide
from anchor_dramatiq.payments.process import process_payment
from anchor_dramatiq.vocabulary import REMATCH_OUTCOMES, PaymentOutcome

log = logging.getLogger(__name__)

PAGE = 500
#: Decisions that take the payment from the inbox to a transaction.
TAKEN = (PaymentOutcome.MATCHED, PaymentOutcome.OVERPAID, PaymentOutcome.UNDERPAID)


def candidates(settings: Settings, limit: int = PAGE) -> list[str]:
    """Operation ids of unmatched/late payments with a memo, inside the window, never refunded."""
    if settings.rematch_window <= 0:
        return []
    since = utcnow() - dt.timedelta(seconds=settings.rematch_window)
    query = (Payment.select(Payment.operation_id)
             .where(Payment.outcome.in_(REMATCH_OUTCOMES) & (Payment.created_at >= since)
                    & (Payment.memo.is_null(False) | Payment.to_muxed_id.is_null(False))
                    & Payment.id.not_in(Refund.select(Refund.payment)))
             .order_by(Payment.id).limit(limit))
    return [row.operation_id for row in query]


def _take_back(payment: Payment) -> bool:
    """Back to ``pending`` if still unmatched/late and unrefunded, under the payment's lock."""
    with locked_payment(payment.id) as row:
        if row is None or row.outcome != payment.outcome:
            return False
        if Refund.select().where(Refund.payment == payment.id).exists():
            return False
        return bool(Payment.update(outcome=PaymentOutcome.PENDING, reason=None, processed_at=None)
                    .where((Payment.id == payment.id) & (Payment.outcome == payment.outcome)).execute())


def rematch(operation_id: str, settings: Settings) -> uuid.UUID | None:
    """Match one payment if a transaction now waits for it; the transaction id to pay out."""
    payment = Payment.get_or_none(Payment.operation_id == operation_id)
    if payment is None or payment.outcome not in REMATCH_OUTCOMES:
        return None
    if decide(payment, settings).outcome not in TAKEN or not _take_back(payment):
        return None
    log.info("payment %s (%s) is re-matched: a transaction waits for it now", operation_id,
             payment.outcome, extra={"operation_id": operation_id})
    return process_payment(operation_id)


def rematch_all(settings: Settings) -> list[uuid.UUID]:
    """Re-match every candidate; the transactions that now have their payment."""
    matched = []
    for operation_id in candidates(settings):
        transaction_id = rematch(operation_id, settings)
        if transaction_id is not None:
            matched.append(transaction_id)
    return matched
