"""Bad-input corpus, raw broker bodies: junk published straight onto the project's queues.

One real ``dramatiq actors`` process on RabbitMQ and PostgreSQL consumes them all. A body
that is not a message, names no known actor, or names a row that does not exist is
dead-lettered at once (``<queue>.XQ``, where an operator can read it) with a log line
that says why; an id of nothing to do is acknowledged. The worker keeps running and
pays nothing.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pika
import pytest
from support.database import migrated, new_postgres_database
from support.processes import Process, process_environment, workers_argv
from support.queues import purge_queues
from support.waiting import wait_until

from anchor_dramatiq.models import Submission, Transaction

pytestmark = [pytest.mark.services, pytest.mark.timeout(180)]

PUBLISHED_TO = ("payments", "withdrawals", "stellar")


def message(queue: str, actor: str, *args: object) -> bytes:
    return json.dumps({"queue_name": queue, "actor_name": actor, "args": list(args), "kwargs": {},
                       "options": {}, "message_id": str(uuid.uuid4()), "message_timestamp": 0}).encode()


UNKNOWN = str(uuid.uuid4())
# name: (queue, body, dead-lettered?, a worker log line that says why)
BODIES: dict[str, tuple[str, bytes, bool, str | None]] = {
    "not_json": ("payments", b"this is not json {", True, "Failed to decode message"),
    "binary_noise": ("withdrawals", b"\xff\xfe\x00\x01garbage", True, "Failed to decode message"),
    "json_without_message_fields": ("payments", b'{"hello": "world"}', True, "Failed to decode message"),
    "unknown_actor": ("payments", message("payments", "transfer_all_funds", "x"), True,
                      "undefined actor 'transfer_all_funds'"),
    "process_payment_unknown_operation": ("payments", message("payments", "process_payment", "4242"), True,
                                          "process_payment('4242') with expected exception PermanentError"),
    "execute_outgoing_unknown_transaction": ("withdrawals",
                                             message("withdrawals", "execute_outgoing", UNKNOWN),
                                             True, f"execute_outgoing('{UNKNOWN}') with expected exception "
                                             "PermanentError"),
    "submit_deposit_unknown_transaction": ("stellar", message("stellar", "submit_deposit", UNKNOWN), False,
                                           None),
}


def counts(url: str, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return connection.channel().queue_declare(queue, passive=True).method.message_count
    finally:
        connection.close()


def dead_letters(url: str, queue: str) -> list[bytes]:
    """The bodies in ``queue``.XQ, read and put back."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    bodies = []
    try:
        channel = connection.channel()
        while True:
            method, _, body = channel.basic_get(f"{queue}.XQ")
            if method is None:
                break
            bodies.append(body)
    finally:
        connection.close()  # unacked: back into the queue
    return bodies


@pytest.fixture(scope="module")
def consumed(postgres, rabbitmq, tmp_path_factory) -> Iterator[tuple[str, Process]]:
    """Publish every body, run one worker until it has handled them all; the broker URL and worker."""
    url = os.environ.get("ANCHOR_TEST_BROKER_URL") or rabbitmq.url
    log_dir: Path = tmp_path_factory.mktemp("bodies")
    with migrated(new_postgres_database(postgres)) as db_url:
        purge_queues(url)
        env = process_environment(db_url, url, "http://127.0.0.1:9", log_dir)
        worker = Process(workers_argv(1, 2), env, log_dir / "worker.log")
        try:
            worker.wait_for_log("Worker process is ready for action.", 60)
            connection = pika.BlockingConnection(pika.URLParameters(url))
            channel = connection.channel()
            channel.confirm_delivery()
            for queue, body, _, _ in BODIES.values():
                channel.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2))
            connection.close()
            expected = {q: sum(1 for q2, _, dead, _ in BODIES.values() if q2 == q and dead)
                        for q in PUBLISHED_TO}
            wait_until(lambda: all(counts(url, q) == 0 and counts(url, f"{q}.XQ") == expected[q]
                                   for q in PUBLISHED_TO), 60, "every bad body handled")
            yield url, worker
        finally:
            worker.kill()
            purge_queues(url)


@pytest.mark.parametrize("name", sorted(BODIES))
def test_bad_body_is_dead_lettered_or_acknowledged(consumed, name: str) -> None:
    url, worker = consumed
    queue, body, dead, why = BODIES[name]
    assert (body in dead_letters(url, queue)) == dead
    if why:
        assert why in worker.log()
    assert worker.popen.poll() is None, "the worker died"
    assert Transaction.select().count() == 0 and Submission.select().count() == 0
