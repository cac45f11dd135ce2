"""Emptying the project's RabbitMQ queues between tests: messages an earlier test left behind
name rows of another database."""

from __future__ import annotations


def purge_queues(broker_url: str) -> None:
    """Empty every queue the project declares, with its delay and dead-letter queues; queues
    never declared yet are skipped."""
    import pika
    from pika.exceptions import ChannelClosedByBroker

    from anchor_dramatiq.queues import Queue

    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    try:
        channel = connection.channel()
        for name in Queue:
            for queue in (name, f"{name}.DQ", f"{name}.XQ"):
                try:
                    channel.queue_purge(queue)
                except ChannelClosedByBroker:  # never declared
                    channel = connection.channel()
    finally:
        connection.close()
