"""Emptying the project's RabbitMQ queues between tests: messages an earlier test left behind
name rows of another database."""

from __future__ import annotations

from collections.abc import Iterable


def purge_queues(broker_url: str, names: Iterable[str] | None = None) -> None:
    """Empty ``names`` (every queue the project declares when None), with their delay and
    dead-letter queues; queues never declared yet are skipped."""
    import pika
    from pika.exceptions import ChannelClosedByBroker

    from anchor_dramatiq.cli.status import queue_names

    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    try:
        channel = connection.channel()
        for name in queue_names() if names is None else names:
            for queue in (name, f"{name}.DQ", f"{name}.XQ"):
                try:
                    channel.queue_purge(queue)
                except ChannelClosedByBroker:  # never declared
                    channel = connection.channel()
    finally:
        connection.close()
