"""Worker threads keep their database connection between messages (a new PostgreSQL
connection costs the server a process), replace it when the database dropped it, and never
let a transaction run from one message into the next."""

from __future__ import annotations

import itertools
import threading

import dramatiq
import peewee
import psycopg2
import pytest
from dramatiq import Worker
from dramatiq.brokers.stub import StubBroker

from anchor_dramatiq.db import database, utcnow
from anchor_dramatiq.middleware import DatabaseConnections
from anchor_dramatiq.models import JobRun


@pytest.fixture
def worker() -> dramatiq.Broker:
    broker = StubBroker()
    broker.add_middleware(DatabaseConnections())
    broker.emit_after("process_boot")
    dramatiq.set_broker(broker)
    yield broker
    broker.close()


SENT = itertools.count()


def run(broker: dramatiq.Broker, fn, *args) -> list:
    """Send ``fn(*args)`` as a message to a one-thread worker; its result (or exception)."""
    out: list = []
    done = threading.Event()

    def call(*a):
        try:
            out.append(fn(*a))
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out.append(exc)
        finally:
            done.set()

    actor = dramatiq.actor(call, broker=broker, actor_name=f"conn_{next(SENT)}", queue_name="conn_test",
                           max_retries=0)
    actor.send(*args)
    assert done.wait(20)
    return out


def backend_pid() -> int:
    return database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]


def leave_a_transaction_open() -> int:
    cursor = database.cursor()
    cursor.execute("BEGIN")
    JobRun.insert(actor="leaked", tick="t", created_at=utcnow()).execute()
    return backend_pid()


def transaction_status() -> int:
    return database.connection().get_transaction_status()


def test_a_worker_thread_keeps_its_connection_and_replaces_a_dropped_one(pg_db: str, worker) -> None:
    w = Worker(worker, worker_threads=1, worker_timeout=100)
    w.start()
    try:
        [first] = run(worker, backend_pid)
        [again] = run(worker, backend_pid)
        assert again == first  # kept: no new server process per message
        with psycopg2.connect(pg_db) as admin, admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(%s)", (first,))
        admin.close()
        [after] = run(worker, backend_pid)
        assert isinstance(after, int) and after != first  # replaced before the message, which ran
        [leaked] = run(worker, leave_a_transaction_open)
        assert leaked == after
        [status] = run(worker, transaction_status)
        assert status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
        assert not JobRun.select().where(JobRun.actor == "leaked").exists()  # rolled back
    finally:
        w.stop()


def die_inside_a_transaction(pg_db: str) -> int:
    """The database drops this thread's connection while the message has a transaction open."""
    cursor = database.cursor()
    cursor.execute("BEGIN")
    pid = backend_pid()
    with psycopg2.connect(pg_db) as admin, admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
    admin.close()
    with pytest.raises(peewee.OperationalError):  # the message met the lost connection
        database.execute_sql("SELECT 1")
    return pid


def test_a_connection_lost_during_a_message_is_replaced_for_the_next(pg_db: str, worker) -> None:
    w = Worker(worker, worker_threads=1, worker_timeout=100)
    w.start()
    try:
        [lost] = run(worker, die_inside_a_transaction, pg_db)
        # the rollback after the message meets a closed connection (peewee's InterfaceError):
        # the connection is dropped, and every later message on the thread gets a new one
        for _ in range(2):
            [pid] = run(worker, backend_pid)
            assert isinstance(pid, int) and pid != lost
    finally:
        w.stop()
