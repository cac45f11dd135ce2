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
BATCH = 100  # operation ids per message at most: one matcher round trip each
#: Up to BATCH ids are spread over up to this many messages (never under MIN_BATCH ids each),
#: so that several worker threads match a ledger's payments at once instead of one thread
#: taking them all in turn: it is what the delay from ledger close to ``pending_anchor``
#: depends on. More ids (a backlog) go in messages of BATCH.
SPREAD = 8
MIN_BATCH = 10


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


def message_size(count: int) -> int:
    """Ids per message for ``count`` ids to send: :data:`BATCH` for a backlog, fewer for a
    ledger's worth (see :data:`SPREAD`)."""
    return BATCH if count > BATCH else max(MIN_BATCH, -(-count // SPREAD))


def publish(broker: dramatiq.Broker, operation_ids: list[str]) -> int:
    """Send the ids in messages of :func:`message_size` ids (publisher confirms on RabbitMQ),
    marking each message's payments sent once the broker confirmed it; how many were sent.

    A broker failure part-way leaves the marks of the messages confirmed so far and re-raises;
    the rest stay unpublished for the next attempt.
    """
    if Queue.PAYMENTS not in broker.get_declared_queues():
        broker.declare_queue(Queue.PAYMENTS)
    sent = 0
    size = message_size(len(operation_ids))
    for start in range(0, len(operation_ids), size):
        batch = operation_ids[start:start + size]
        broker.enqueue(process_payments_message(batch))
        Payment.update(published_at=utcnow()).where(Payment.operation_id.in_(batch)).execute()
        sent += len(batch)
    return sent
