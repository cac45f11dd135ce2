"""``process_payment``: settle one recorded payment exactly once, matched or with a reason.

The payment row is the claim: its outcome moves from ``pending`` once (a guarded update),
and the transaction moves through :func:`~anchor_dramatiq.transitions.transition`. The
transaction is moved first; a crash before the payment row is settled is recognised on
redelivery because the transaction carries this payment's paging token and hash.
"""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal

from anchor_dramatiq.db import utcnow
from anchor_dramatiq.errors import MatchRace, PermanentError
from anchor_dramatiq.models import Payment, Transaction
from anchor_dramatiq.payments.matching import amount_in, decide, receiving_accounts
from anchor_dramatiq.transitions import transition
from anchor_dramatiq.vocabulary import WAITING_STATUS, PaymentOutcome, ready_status

log = logging.getLogger(__name__)

RACE_ATTEMPTS = 3


def _settle(payment: Payment, outcome: str, reason: str | None,
            transaction_id: uuid.UUID | None = None) -> bool:
    changed = (Payment.update(outcome=outcome, reason=reason, transaction_id=transaction_id,
                              processed_at=utcnow())
               .where((Payment.id == payment.id) & (Payment.outcome == PaymentOutcome.PENDING)).execute())
    if changed:
        log.info("payment %s: %s%s", payment.operation_id, outcome, f" ({reason})" if reason else "",
                 extra={"operation_id": payment.operation_id, "transaction_id": transaction_id})
    return bool(changed)


def _already_matched(payment: Payment) -> Transaction | None:
    """The transaction this payment already moved (a crash came before its row was settled)."""
    return (Transaction.select()
            .where((Transaction.paging_token == payment.paging_token)
                   & (Transaction.stellar_transaction_id == payment.transaction_hash)
                   & Transaction.receiving_anchor_account.in_(receiving_accounts(payment))
                   & Transaction.kind.in_(tuple(WAITING_STATUS)))
            .first())


def _amount_note(transaction: Transaction, received: Decimal) -> str | None:
    if transaction.amount_expected is not None and received != transaction.amount_expected:
        return f"amount {received} differs from amount_expected {transaction.amount_expected}"
    return None


def process_payment(operation_id: str) -> uuid.UUID | None:
    """Match the payment; return the transaction id to execute, or None (nothing to do).

    Raises :class:`PermanentError` for a payment that is not recorded, and
    :class:`MatchRace` when the waiting transaction kept changing (Dramatiq retries).
    """
    payment = Payment.get_or_none(Payment.operation_id == operation_id)
    if payment is None:
        raise PermanentError(f"payment {operation_id} is not recorded")
    for _ in range(RACE_ATTEMPTS):
        if payment.outcome != PaymentOutcome.PENDING:
            return None
        done = _already_matched(payment)
        if done is not None:
            _settle(payment, PaymentOutcome.MATCHED, None, done.id)
            return done.id
        decision = decide(payment)
        if decision.outcome != PaymentOutcome.MATCHED:
            # A concurrent copy of this message may have moved the transaction since the check
            # above: look again, or its payment would be recorded unmatched (and refunded).
            done = _already_matched(payment)
            if done is not None:
                _settle(payment, PaymentOutcome.MATCHED, None, done.id)
                return done.id
            held = decision.transaction.id if decision.transaction is not None else None
            _settle(payment, decision.outcome, decision.reason, held)
            return None
        target = decision.transaction
        assert target is not None  # a match names its transaction
        received = amount_in(payment, target.asset)
        moved = transition(target.id, [WAITING_STATUS[target.kind]], ready_status(target.kind),
                           amount_in=received, from_address=payment.from_address,
                           stellar_transaction_id=payment.transaction_hash,
                           paging_token=payment.paging_token)
        if moved:
            _settle(payment, PaymentOutcome.MATCHED, _amount_note(target, received), target.id)
            return target.id
        payment = Payment.get_by_id(payment.id)
    raise MatchRace(f"payment {operation_id}: the waiting transaction kept changing; will retry")
