"""Wallet callback actors: thin wrappers over :mod:`anchor_dramatiq.callbacks`.

``send_callback`` is enqueued by the status-change listener :func:`anchor_dramatiq.boot.boot`
registers.
"""

from __future__ import annotations

import logging

import dramatiq

from anchor_dramatiq import callbacks
from anchor_dramatiq.queues import ActorName, Queue

log = logging.getLogger(__name__)

# 1 s, 2 s, 4 s ... capped at 5 min: a wallet that is down for about half an hour still hears.
MAX_RETRIES = 10
MIN_BACKOFF_MS = 1_000
MAX_BACKOFF_MS = 300_000
TIME_LIMIT_MS = 90_000  # above the largest ANCHOR_CALLBACK_TIMEOUT (60 s)


@dramatiq.actor(actor_name=ActorName.SEND_CALLBACK, queue_name=Queue.CALLBACKS, max_retries=MAX_RETRIES,
                min_backoff=MIN_BACKOFF_MS, max_backoff=MAX_BACKOFF_MS, time_limit=TIME_LIMIT_MS,
                on_retry_exhausted=ActorName.CALLBACK_GIVEN_UP)
def send_callback(transaction_id: str) -> None:
    """POST the transaction as it is now to the wallet's on_change_callback, signed."""
    try:
        callbacks.send_callback(transaction_id)
    except callbacks.CallbackFailed as exc:
        log.warning("%s; will retry", exc)
        raise dramatiq.Retry(str(exc)) from None


@dramatiq.actor(actor_name=ActorName.CALLBACK_GIVEN_UP, queue_name=Queue.CALLBACKS, max_retries=3)
def callback_given_up(message: dict, retry_info: dict) -> None:
    """Record that a wallet callback was given up (Dramatiq sends this when retries run out)."""
    transaction_id = (message.get("args") or ["?"])[0]
    log.warning("wallet callback for transaction %s given up after %s attempts; the transaction "
                "is unchanged", transaction_id, int(retry_info.get("retries", 0)) + 1,
                extra={"transaction_id": transaction_id})

