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


def send_submit(transaction_id: uuid.UUID | str, delay_ms: int | None = None) -> bool:
    """Enqueue ``submit_deposit(id)``; False (logged) if the broker refused it.

    A failed send loses nothing: the deposit stays ``ready`` and the next sweep re-sends it.
    """
    message: dramatiq.Message[None] = dramatiq.Message(
        queue_name=Queue.STELLAR, actor_name=ActorName.SUBMIT_DEPOSIT,
        args=(str(transaction_id),), kwargs={}, options={})
    try:
        dramatiq.get_broker().enqueue(message, delay=delay_ms)
    except Exception:
        log.exception("could not enqueue submit_deposit for %s; the sweep will resend it",
                      transaction_id)
        return False
    return True
