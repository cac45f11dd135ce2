"""Nudges for the deposit actors: ids only, sent without importing the actor modules.

The library enqueues by actor name so the anchor's own code (its API server, a bank
webhook) can send work without importing ``actors`` (which configures a worker). The
database row is the source of truth; a lost message only delays work until a sweep.
"""

from __future__ import annotations

import logging
import uuid

import dramatiq

from anchor_dramatiq.queues import ActorName, Queue

log = logging.getLogger(__name__)


def _send(actor: ActorName, args: tuple, delay_ms: int | None) -> bool:
    message: dramatiq.Message[None] = dramatiq.Message(
        queue_name=Queue.STELLAR, actor_name=actor, args=args, kwargs={}, options={})
    try:
        dramatiq.get_broker().enqueue(message, delay=delay_ms)
    except Exception:
        log.exception("could not enqueue %s%r; the sweep will resend it", actor, args)
        return False
    return True


def send_submit(transaction_id: uuid.UUID | str, delay_ms: int | None = None) -> bool:
    """Enqueue ``submit_deposit(id)``; False (logged) if the broker refused it.

    A failed send loses nothing: the deposit stays ``ready`` and the next sweep re-sends it.
    """
    return _send(ActorName.SUBMIT_DEPOSIT, (str(transaction_id),), delay_ms)


def send_pay_ready(delay_ms: int | None = None) -> bool:
    """Enqueue ``pay_ready_deposits()``: fill a free channel with ready deposits (no id:
    the worker claims what is ready in the database)."""
    return _send(ActorName.PAY_READY_DEPOSITS, (), delay_ms)


def send_settle_batch(submission_id: int, delay_ms: int | None = None) -> bool:
    """Enqueue ``settle_deposit_batch(submission id)``; a lost one is re-sent by the sweep."""
    return _send(ActorName.SETTLE_DEPOSIT_BATCH, (int(submission_id),), delay_ms)
