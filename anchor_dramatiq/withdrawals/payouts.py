"""The payout record (``anchor_payout``): written and committed before the rails are called.

It is what makes a payout happen at most once: a call that started and whose result was
not saved leaves its record ``started`` (worker killed) or ``held`` (anything else went
wrong after the call began), and nothing calls the rails for it again until
``payout_status`` or a person says it was not paid. Every write made under a claim
checks the claim's fencing token in the same database transaction.
"""

from __future__ import annotations

import logging
import uuid

from anchor_dramatiq import dbclock
from anchor_dramatiq.integrations import RailsIntegration
from anchor_dramatiq.models import Lease, Payout, Transaction
from anchor_dramatiq.vocabulary import PayoutResult, PayoutState, SaveResult
from anchor_dramatiq.withdrawals import leases

log = logging.getLogger(__name__)

EXECUTABLE = (PayoutState.QUEUED, PayoutState.STARTED,
              PayoutState.RELEASED)  # PayoutState.STARTED: only to be held, or retried if idempotent
MAX_IDEMPOTENT_ATTEMPTS = 10

CHECK = ("check with the bank whether payout {key} was made, then run "
         "`anchor-dramatiq payouts resolve {id} --paid` or `--not-paid`")


def key_for(transaction_id: uuid.UUID) -> str:
    """The idempotency key the rails get for a transaction's payout: its id, for ever."""
    return str(transaction_id)


def check_hint(transaction_id: uuid.UUID) -> str:
    """What a person must do for a held payout."""
    return CHECK.format(key=key_for(transaction_id), id=transaction_id)


def get(transaction_id: uuid.UUID) -> Payout | None:
    return Payout.get_or_none(Payout.transaction_id == transaction_id)


def begin(transaction_id: uuid.UUID, lease: Lease, rails: RailsIntegration, seconds: int
          ) -> tuple[Payout | None, PayoutResult]:
    """Under the claim, record the call about to be made and commit it.

    Returns ``(payout, "call")`` when the rails may be called now; otherwise what to report:
    ``lost`` (our claim was taken), ``payout_held`` (a call already started: held, never
    repeated) or ``not_ready`` (the payout is done).
    """
    with leases.write_lock():
        if not leases.renew(lease, seconds):
            return None, PayoutResult.LOST
        row = get(transaction_id)
        start = {"state": PayoutState.STARTED, "fence": lease.fence, "started_at": dbclock.now(),
                 "finished_at": None, "status_message": None}
        if row is None:
            Payout.insert(transaction_id=transaction_id, attempt=1,
                          idempotency_key=key_for(transaction_id), **start).execute()
        elif row.state == PayoutState.DONE:
            return row, PayoutResult.NOT_READY
        elif row.state == PayoutState.HELD:
            return row, PayoutResult.PAYOUT_HELD
        elif row.state == PayoutState.STARTED and not (rails.payouts_idempotent
                                           and row.attempt < MAX_IDEMPOTENT_ATTEMPTS):
            why = ("the worker making payout call {n} stopped (killed, or lost its claim) before "
                   "its result was saved" if not rails.payouts_idempotent else
                   "payout called {n} times with the same key without a saved result")
            _hold_row(row, f"{why.format(n=row.attempt)}; {check_hint(transaction_id)}")
            return row, PayoutResult.PAYOUT_HELD
        else:  # queued, released (once), or started again on an idempotent integration
            Payout.update(attempt=row.attempt + 1, **start).where(Payout.id == row.id).execute()
    return get(transaction_id), PayoutResult.CALL


def _hold_row(row: Payout, message: str) -> None:
    Payout.update(state=PayoutState.HELD, finished_at=dbclock.now(), status_message=message).where(
        (Payout.id == row.id) & (Payout.attempt == row.attempt) & Payout.state.in_((PayoutState.STARTED,
                                                                                    PayoutState.HELD))
    ).execute()
    log.error("transaction %s: payout held: %s", row.transaction_id, message,
              extra={"transaction_id": row.transaction_id})


def hold(payout: Payout, message: str) -> None:
    """Hold this attempt of the payout for ``payout_status`` or a person, with what happened."""
    _hold_row(payout, f"{message}; {check_hint(payout.transaction_id)}")


def release_for_retry(payout: Payout, message: str) -> None:
    """An idempotent integration's failed call: executable again with the same key."""
    Payout.update(state=PayoutState.RELEASED, finished_at=dbclock.now(), status_message=message).where(
        (Payout.id == payout.id) & (Payout.attempt == payout.attempt) & (Payout.state == PayoutState.STARTED)
    ).execute()


def save_result(lease: Lease, payout: Payout, from_status: str, status: str, fields: dict,
                seconds: int) -> SaveResult:
    """Save the rails' result and close the payout in one fenced database transaction.

    Returns ``saved``, ``lost`` (our claim was taken: nothing written) or ``moved`` (the
    transaction left ``from_status`` while the call ran: nothing written).
    """
    with leases.write_lock():
        if not leases.renew(lease, seconds):
            return SaveResult.LOST
        changed = (Transaction.update(status=status, **fields)
                   .where((Transaction.id == payout.transaction_id) & (Transaction.status == from_status))
                   .execute())
        if not changed:
            return SaveResult.MOVED
        Payout.update(state=PayoutState.DONE, finished_at=dbclock.now(), status_message=None).where(
            (Payout.id == payout.id) & (Payout.fence == lease.fence)
            & (Payout.state == PayoutState.STARTED)).execute()
    return SaveResult.SAVED


def listed(states: tuple[str, ...] = (PayoutState.HELD,), limit: int = 1000) -> list[Payout]:
    """Payout records in ``states``, oldest first."""
    return list(Payout.select().where(Payout.state.in_(states))
                .order_by(Payout.started_at, Payout.id).limit(limit))
