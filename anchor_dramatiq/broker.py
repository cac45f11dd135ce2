"""The one broker every process installs (through :func:`anchor_dramatiq.boot.boot`).

RabbitMQ through Dramatiq's pika broker with publisher confirms, pika options carried in
the URL, and an explicit middleware list: every delay and time limit stays well under
RabbitMQ's 30-minute consumer timeout. Without ``ANCHOR_BROKER_URL`` an in-process
:class:`~dramatiq.brokers.stub.StubBroker` is used (embedded mode and tests).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Middleware,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)
from periodiq import PeriodiqMiddleware

from anchor_dramatiq.config import Settings
from anchor_dramatiq.middleware import DatabaseConnections, PermanentFailures

# Defaults for pika options an operator did not put in the URL (see docs/operations.md).
PIKA_URL_DEFAULTS = {
    "heartbeat": "60",
    "blocked_connection_timeout": "30",
    "connection_attempts": "3",
    "retry_delay": "2",
    "socket_timeout": "10",
}
ACTOR_TIME_LIMIT_MS = 300_000  # 5 min, well under RabbitMQ's 30 min consumer_timeout
MAX_RETRIES = 6
MIN_BACKOFF_MS = 5_000
MAX_BACKOFF_MS = 600_000  # 10 min: a retry never sits in a delay queue near consumer_timeout
PERIODIC_SKIP_DELAY_S = 90  # a tick older than this is dropped; the next tick covers it


def broker_url_with_defaults(url: str) -> str:
    """Add the pika options the operator left out, keeping the ones given."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for key, value in PIKA_URL_DEFAULTS.items():
        query.setdefault(key, value)
    return urlunsplit(parts._replace(query=urlencode(query)))


def middleware_list() -> list[Middleware]:
    return [
        AgeLimit(),
        TimeLimit(time_limit=ACTOR_TIME_LIMIT_MS),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(max_retries=MAX_RETRIES, min_backoff=MIN_BACKOFF_MS, max_backoff=MAX_BACKOFF_MS),
        CurrentMessage(),
        PeriodiqMiddleware(skip_delay=PERIODIC_SKIP_DELAY_S),
        DatabaseConnections(),
        PermanentFailures(),
    ]


def build_broker(settings: Settings) -> dramatiq.Broker:
    if settings.broker_url:
        middleware = middleware_list()
        if settings.metrics_port:
            from anchor_dramatiq.metrics import worker_metrics

            middleware.append(worker_metrics())
        return RabbitmqBroker(url=broker_url_with_defaults(settings.broker_url),
                              confirm_delivery=True, middleware=middleware)
    return StubBroker(middleware=middleware_list())

