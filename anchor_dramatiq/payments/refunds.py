"""Refund requests: which payments may go back, how much, and the record that makes it once.

A refund is one ``anchor_refund`` row per payment (a unique key): asking twice, or two
operators asking at once, finds the same row; the Stellar side (``refund_submit.py``) pays
it through the submission engine. What may be refunded: a payment in the inbox (unmatched,
late, ambiguous, rejected, overpaid, underpaid) in full or in part, and the excess of a
matched overpayment (its transaction keeps the rest). Never a pending payment (not decided
yet), an internal one (the operator's own money), one whose transaction failed (nothing
arrived) or a forged event (``forged_by``: a contract that is not the asset's own emitted it;
nothing arrived, whoever asks).

When the payment belongs to a Polaris transaction, a paid refund is written as SEP-6/24
describe it: the ``refunds`` object (``amount_refunded``, ``amount_fee``, ``payments`` with
``id``, ``id_type`` ``stellar``, ``amount``, ``fee``) is made from these rows (Polaris 2.6
has no column for it; the wallet callback carries it), ``refunded`` is set and the status
goes to ``refunded`` when everything received went back; a partial refund leaves both.
"""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal
from typing import Any

from anchor_dramatiq.db import utcnow
from anchor_dramatiq.errors import RefundRefused
from anchor_dramatiq.models import Payment, Refund, Transaction
from anchor_dramatiq.payments.claims import locked_payment
from anchor_dramatiq.transitions import transition
from anchor_dramatiq.vocabulary import (
    FINAL_STATUSES,
    PROBLEM_OUTCOMES,
    PaymentOutcome,
    RefundState,
    TransactionStatus,
)

log = logging.getLogger(__name__)

REFUNDABLE = (*PROBLEM_OUTCOMES, PaymentOutcome.MATCHED)
STELLAR_PLACES = -7


def refundable_amount(payment: Payment) -> Decimal:
    """The most that may go back: all of it, or a matched overpayment's excess."""
    if payment.forged_by is not None:
        raise RefundRefused(f"payment {payment.operation_id} is a forged event: contract "
                            f"{payment.forged_by}, not the asset's Stellar Asset Contract, emitted "
                            "it and nothing of the asset arrived; refunding it would send real "
                            "money for nothing")
    if not payment.successful or payment.amount is None or payment.amount <= 0:
        raise RefundRefused(f"payment {payment.operation_id}: its Stellar transaction failed; "
                            "nothing was received, nothing to refund")
    if payment.outcome == PaymentOutcome.INTERNAL:
        raise RefundRefused(f"payment {payment.operation_id} is internal ({payment.reason}): "
                            "treasury movements are never refunded")
    if payment.outcome not in REFUNDABLE:
        raise RefundRefused(f"payment {payment.operation_id} is {payment.outcome}: it is not decided "
                            "yet; look again when it has been processed")
    if payment.outcome != PaymentOutcome.MATCHED:
        return payment.amount
    transaction = Transaction.get_or_none(Transaction.id == payment.transaction_id)
    expected = transaction.amount_expected if transaction is not None else None
    if expected is None or payment.amount <= expected:
        raise RefundRefused(f"payment {payment.operation_id} paid transaction {payment.transaction_id} "
                            f"(expected {expected}): only an overpayment's excess can be refunded")
    return payment.amount - expected


def _checked(amount: Decimal, limit: Decimal, payment: Payment) -> Decimal:
    exponent = amount.as_tuple().exponent
    if not amount.is_finite() or amount <= 0 or (isinstance(exponent, int) and exponent < STELLAR_PLACES):
        raise RefundRefused(f"refund amount {amount}: a positive amount with at most 7 decimals")
    if amount > limit:
        raise RefundRefused(f"refund amount {amount} is more than the {limit} payment "
                            f"{payment.operation_id} allows")
    return amount


def request_refund(operation_id: str, amount: Decimal | None, by: str) -> Refund:
    """The payment's refund: created now, or the one already requested with the same amount.

    Raises :class:`RefundRefused` (nothing is recorded) when the payment cannot be refunded,
    the amount is not allowed, or a refund of another amount already exists.
    """
    payment = Payment.get_or_none(Payment.operation_id == operation_id)
    if payment is None:
        raise RefundRefused(f"no payment {operation_id} is recorded")
    limit = refundable_amount(payment)
    wanted = _checked(limit if amount is None else amount, limit, payment)
    with locked_payment(payment.id) as row:
        existing = Refund.get_or_none(Refund.payment == payment.id)
        if existing is not None:
            if existing.amount != wanted:
                raise RefundRefused(f"payment {operation_id} already has a refund of {existing.amount} "
                                    f"({existing.state}); one refund per payment")
            return existing
        if row is None or row.outcome != payment.outcome:
            raise RefundRefused(f"payment {operation_id} changed while the refund was asked "
                                f"(now {row.outcome if row else 'gone'}); look at it again")
        refund = Refund.create(payment=payment.id, transaction_id=payment.transaction_id, amount=wanted,
                               destination=payment.from_address, requested_by=by[:64])
    log.info("refund %s of payment %s requested by %s: %s %s to %s", refund.id, operation_id, by, wanted,
             payment.asset_code, payment.from_address, extra={"operation_id": operation_id})
    return refund


def record_paid(refund: Refund, stellar_transaction_id: str) -> bool:
    """The refund landed: mark it paid (once) and bring its Polaris transaction up to date."""
    changed = (Refund.update(state=RefundState.PAID, stellar_transaction_id=stellar_transaction_id,
                             paid_at=utcnow(), reason=None)
               .where((Refund.id == refund.id) & (Refund.state != RefundState.PAID)).execute())
    if changed:
        log.info("refund %s paid by Stellar transaction %s", refund.id, stellar_transaction_id)
        if refund.transaction_id is not None:
            _refund_transaction(refund.transaction_id)
    return bool(changed)


def record_failed(refund: Refund, reason: str) -> None:
    """The refund's transaction applied and failed (nothing moved): say why, for a person."""
    (Refund.update(state=RefundState.FAILED, reason=reason[:500])
     .where((Refund.id == refund.id) & (Refund.state != RefundState.PAID)).execute())
    log.error("refund %s failed: %s", refund.id, reason)


def _refund_transaction(transaction_id: uuid.UUID) -> None:
    """``refunded`` and status ``refunded`` once everything received went back; else unchanged."""
    transaction = Transaction.get_or_none(Transaction.id == transaction_id)
    if transaction is None or transaction.status in FINAL_STATUSES:
        return
    paid = list(Refund.select(Refund, Payment).join(Payment)
                .where((Refund.transaction_id == transaction_id) & (Refund.state == RefundState.PAID)))
    refunded = sum((r.amount for r in paid), Decimal(0))
    received = transaction.amount_in
    if received is None:  # a held payment never became the transaction's amount_in
        received = sum((r.payment.amount for r in paid), Decimal(0))
    if refunded >= received:
        transition(transaction_id, [transaction.status], TransactionStatus.REFUNDED, refunded=True,
                   completed_at=utcnow(), status_message="the payment was refunded")


def sep_refunds(transaction_id: uuid.UUID) -> dict[str, Any] | None:
    """The SEP-6/24 ``refunds`` object of a transaction, or None when nothing was refunded."""
    paid = list(Refund.select().where((Refund.transaction_id == transaction_id)
                                      & (Refund.state == RefundState.PAID)).order_by(Refund.paid_at))
    if not paid:
        return None
    return {
        "amount_refunded": _text(sum((r.amount + r.fee for r in paid), Decimal(0))),
        "amount_fee": _text(sum((r.fee for r in paid), Decimal(0))),
        "payments": [{"id": r.stellar_transaction_id, "id_type": "stellar",
                      "amount": _text(r.amount), "fee": _text(r.fee)} for r in paid],
    }


def _text(amount: Decimal) -> str:
    """An amount as SEP JSON shows it: plain digits, no exponent, no trailing zeros."""
    return format(amount.normalize(), "f")
