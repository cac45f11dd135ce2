"""The broker module against a real RabbitMQ: confirms on, pika options in the URL."""

import threading
from urllib.parse import parse_qs, urlsplit

import dramatiq
from dramatiq import Worker
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.stub import StubBroker

from anchor_dramatiq.broker import broker_url_with_defaults, build_broker
from anchor_dramatiq.config import Settings


def test_url_defaults_keep_what_the_operator_set():
    url = broker_url_with_defaults("amqp://u:p@rabbit:5672/anchor?heartbeat=30")
    query = parse_qs(urlsplit(url).query)
    assert query["heartbeat"] == ["30"]
    assert query["blocked_connection_timeout"] == ["30"]
    assert query["connection_attempts"] == ["3"]
    assert urlsplit(url).path == "/anchor"


def test_no_broker_url_is_the_in_process_broker():
    assert isinstance(build_broker(Settings.from_env({})), StubBroker)


def test_rabbitmq_broker_delivers_with_confirms(broker_url, tmp_path):
    settings = Settings.from_env({"ANCHOR_BROKER_URL": broker_url,
                                  "ANCHOR_DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3"})
    broker = build_broker(settings)
    assert isinstance(broker, RabbitmqBroker)
    assert broker.confirm_delivery is True
    names = [type(m).__name__ for m in broker.middleware]
    for expected in ("AgeLimit", "TimeLimit", "ShutdownNotifications", "Callbacks", "Pipelines",
                     "Retries", "CurrentMessage", "PeriodiqMiddleware", "DatabaseConnections"):
        assert expected in names
    from anchor_dramatiq.db import open_database

    open_database(settings.database_url)
    seen = []
    done = threading.Event()

    def ping(value: int) -> None:
        seen.append(value)
        done.set()

    actor = dramatiq.actor(ping, broker=broker, queue_name="foundation_test", actor_name="ping")
    broker.declare_queue("foundation_test")
    actor.send(42)
    worker = Worker(broker, worker_timeout=100, worker_threads=1)
    worker.start()
    try:
        assert done.wait(20)
    finally:
        worker.stop()
        broker.close()
    assert seen == [42]
