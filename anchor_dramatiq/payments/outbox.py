"""Publishing ``process_payment`` for recorded payments: the outbox side of the streamer.

A payment row is durable before its message is sent; ``published_at`` says a broker
confirmed the message. Rows still ``pending`` with no confirmed message (broker down) or
whose message was lost (still ``pending`` long after) are sent again; ``process_payment``
is idempotent, so a duplicate message is harmless.
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


def process_payment_message(operation_id: str) -> dramatiq.Message:
    """The message the ``process_payment`` actor consumes (ids only)."""
    return dramatiq.Message(queue_name=Queue.PAYMENTS, actor_name=ActorName.PROCESS_PAYMENT,
                            args=(operation_id,), kwargs={}, options={})


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
    """Send each one (publisher confirms on RabbitMQ), then mark those sent.

    A broker failure part-way marks the ones confirmed so far and re-raises; the rest stay
    unpublished for the next attempt.
    """
    if Queue.PAYMENTS not in broker.get_declared_queues():
        broker.declare_queue(Queue.PAYMENTS)
    sent: list[str] = []
    try:
        for operation_id in operation_ids:
            broker.enqueue(process_payment_message(operation_id))
            sent.append(operation_id)
    finally:
        if sent:
            Payment.update(published_at=utcnow()).where(Payment.operation_id.in_(sent)).execute()
    return len(sent)
