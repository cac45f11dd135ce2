"""Held payouts: settled by the rails' ``payout_status`` or by a person, never by a timer.

A held payout (``anchor_payout.state = held``) is one whose call started and whose outcome
the anchor does not know. Paid: the transaction moves on as if the call had returned
(``pending_external``, or ``completed``), with fees and ``amount_out`` set as
``execute_outgoing`` sets them. Not paid: the payout is released for exactly one new call.
"""

from __future__ import annotations

import logging
import uuid

from anchor_dramatiq import dbclock
from anchor_dramatiq.errors import NotHeld
from anchor_dramatiq.integrations import RailsIntegration, can_tell_payout_status
from anchor_dramatiq.models import Asset, Payout, Transaction
from anchor_dramatiq.transitions import announce
from anchor_dramatiq.vocabulary import PayoutState, PayoutStatus, TransactionStatus, ready_status
from anchor_dramatiq.withdrawals import leases, payouts
from anchor_dramatiq.withdrawals.execute import result_fields

log = logging.getLogger(__name__)

PAID_STATUSES = (TransactionStatus.PENDING_EXTERNAL, TransactionStatus.COMPLETED)
SETTLE_PAGE = 100


def resolve_paid(transaction_id: uuid.UUID, status: str = TransactionStatus.PENDING_EXTERNAL, *,
                 by: str,
                 external_transaction_id: str | None = None) -> str:
    """The bank made the payout: save it as ``execute_outgoing`` would have; returns the status."""
    if status not in PAID_STATUSES:
        raise ValueError(f"a paid payout goes to {' or '.join(PAID_STATUSES)}, not {status!r}")
    transaction = (Transaction.select(Transaction, Asset).join(Asset)
                   .where(Transaction.id == transaction_id).first())
    if transaction is None:
        raise NotHeld(f"transaction {transaction_id} does not exist")
    before = dict(transaction.__data__)
    from_status = ready_status(transaction.kind)
    transaction.status = status
    if external_transaction_id:
        transaction.external_transaction_id = external_transaction_id
    fields = result_fields(transaction, before)
    new_status = fields.pop("status")
    with leases.write_lock():
        closed = (Payout.update(state=PayoutState.DONE, finished_at=dbclock.now(),
                                status_message=f"resolved as paid by {by}")
                  .where((Payout.transaction_id == transaction_id) & (Payout.state == PayoutState.HELD))
                  .execute())
        if not closed:
            raise NotHeld(f"transaction {transaction_id} has no held payout")
        moved = (Transaction.update(status=new_status, **fields)
                 .where((Transaction.id == transaction_id) & (Transaction.status == from_status))
                 .execute())
        if not moved:
            raise NotHeld(f"transaction {transaction_id} is {transaction.status}, not {from_status}")
    log.warning("transaction %s: held payout resolved as paid by %s -> %s", transaction_id, by,
                new_status, extra={"transaction_id": transaction_id})
    announce(transaction_id, from_status, new_status)
    return new_status


def resolve_not_paid(transaction_id: uuid.UUID, *, by: str) -> None:
    """The bank did not make the payout: release it for exactly one new call."""
    released = (Payout.update(state=PayoutState.RELEASED, finished_at=dbclock.now(), nudged_at=None,
                              status_message=f"resolved as not paid by {by}; one new attempt")
                .where((Payout.transaction_id == transaction_id) & (Payout.state == PayoutState.HELD))
                .execute())
    if not released:
        raise NotHeld(f"transaction {transaction_id} has no held payout")
    log.warning("transaction %s: held payout resolved as not paid by %s; released for one new call",
                transaction_id, by, extra={"transaction_id": transaction_id})


def settle_held(rails: RailsIntegration, limit: int = SETTLE_PAGE) -> dict[str, int]:
    """Ask ``payout_status`` about held payouts; counts of paid / not_paid / unknown."""
    counts = {status.value: 0 for status in PayoutStatus}
    if not can_tell_payout_status(rails):
        return counts
    for payout in payouts.listed((PayoutState.HELD,), limit):
        transaction = (Transaction.select(Transaction, Asset).join(Asset)
                       .where(Transaction.id == payout.transaction_id).first())
        if transaction is None:
            continue
        answer = _ask(rails, transaction, payout.idempotency_key)
        try:
            if answer is PayoutStatus.PAID:
                resolve_paid(payout.transaction_id, by="payout_status")
            elif answer is PayoutStatus.NOT_PAID:
                resolve_not_paid(payout.transaction_id, by="payout_status")
        except NotHeld:
            continue  # resolved meanwhile by someone else
        counts[answer.value] += 1
    return counts


def _ask(rails: RailsIntegration, transaction: Transaction, key: str) -> PayoutStatus:
    """The rails' answer; an exception or anything but a ``PayoutStatus`` counts as unknown."""
    try:
        answer = rails.payout_status(transaction, key)  # type: ignore[attr-defined]
    except Exception:
        log.exception("transaction %s: payout_status raised; the payout stays held", transaction.id,
                      extra={"transaction_id": transaction.id})
        return PayoutStatus.UNKNOWN
    if not isinstance(answer, PayoutStatus):
        log.error("transaction %s: payout_status returned %r, not a PayoutStatus; the payout stays held",
                  transaction.id, answer, extra={"transaction_id": transaction.id})
        return PayoutStatus.UNKNOWN
    return answer
