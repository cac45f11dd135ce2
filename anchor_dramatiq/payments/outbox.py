"""Publishing ``process_payments`` for recorded payments: the outbox side of the streamer.

A payment row is durable before its message is sent; a message carries a batch of up to
:data:`BATCH` operation ids, and ``published_at`` says a broker confirmed the message that
carried the row. Rows still ``pending`` with no confirmed message (broker down) or whose
message was lost (still ``pending`` long after) are sent again; settling a payment is
idempotent, so a duplicate message is harmless. (``process_payment`` messages of one id,
queued by an older version, are still consumed.)
"""

from __future__ import annotations

import datetime as dt
import logging

import dramatiq

from anchor_dramatiq.db import utcnow
from anchor_dramatiq.models import Payment
from anchor_dramatiq.queues import ActorName, Queue
from anchor_dramatiq.vocabulary import PaymentOutcome

log = logging.getLogger(__name__)

PAGE = 500
BATCH = 100  # operation ids per message: one matcher round trip each


def process_payments_message(operation_ids: list[str]) -> dramatiq.Message:
    """The message the ``process_payments`` actor consumes: a batch of operation ids (ids only)."""
    return dramatiq.Message(queue_name=Queue.PAYMENTS, actor_name=ActorName.PROCESS_PAYMENTS,
                            args=(operation_ids,), kwargs={}, options={})


def due(stale_after: dt.timedelta | None = None, limit: int = PAGE) -> list[str]:
    """Operation ids of pending payments never confirmed sent (or sent longer ago than ``stale_after``)."""
    condition = Payment.published_at.is_null()
    if stale_after is not None:
        condition |= Payment.published_at < utcnow() - stale_after
    query = (Payment.select(Payment.operation_id)
             .where((Payment.outcome == PaymentOutcome.PENDING) & condition)
             .order_by(Payment.id).limit(limit))
    return [row.operation_id for row in query]


def publish(broker: dramatiq.Broker, operation_ids: list[str]) -> int:
    """Send the ids in messages of at most :data:`BATCH` (publisher confirms on RabbitMQ),
    marking each message's payments sent once the broker confirmed it; how many were sent.

    A broker failure part-way leaves the marks of the messages confirmed so far and re-raises;
    the rest stay unpublished for the next attempt.
    """
    if Queue.PAYMENTS not in broker.get_declared_queues():
        broker.declare_queue(Queue.PAYMENTS)
    sent = 0
    for start in range(0, len(operation_ids), BATCH):
        batch = operation_ids[start:start + BATCH]
        broker.enqueue(process_payments_message(batch))
        Payment.update(published_at=utcnow()).where(Payment.operation_id.in_(batch)).execute()
        sent += len(batch)
    return sent
