"""Dramatiq middleware of the project's own: database connections per message, and the
reason of every permanent failure in the log."""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
import peewee
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware

from anchor_dramatiq.db import database
from anchor_dramatiq.errors import PermanentError

log = logging.getLogger(__name__)

PSYCOPG2_IDLE = 0  # psycopg2.extensions.TRANSACTION_STATUS_IDLE (psycopg2 ships no type stubs)


class DatabaseConnections(Middleware):
    """One database connection per worker thread, kept from one message to the next.

    Opening a PostgreSQL connection starts a server process: about 3.5 ms of the database's
    CPU (bench/incoming_throughput.py's notes in docs/benchmarks.md), more than most messages'
    own queries, so a connection per message made PostgreSQL the busiest process of a payment
    burst. Before each message the kept connection is checked with one round trip and
    replaced if the database restarted meanwhile (no message fails on a dead connection);
    after each message a transaction left open is rolled back (none spans two messages); the
    connection is closed when its thread stops.
    """

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        if not database.is_closed():
            try:
                database.execute_sql("SELECT 1")
            except peewee.PeeweeException:  # DatabaseError, or InterfaceError on a closed connection
                log.info("replacing a broken database connection (the database restarted?)")
                self._close()
        database.connect(reuse_if_open=True)

    def after_process_message(self, broker: dramatiq.Broker, message: MessageProxy,
                              *, result: object = None, exception: BaseException | None = None
                              ) -> None:
        self._end_transaction()

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self._end_transaction()

    def before_worker_thread_shutdown(self, broker: dramatiq.Broker, thread: object) -> None:
        self._close()

    @classmethod
    def _end_transaction(cls) -> None:
        if database.is_closed():
            return
        try:
            if _in_transaction(database.connection()):
                database.rollback()
        except peewee.PeeweeException:  # DatabaseError, or InterfaceError on a closed connection
            cls._close()

    @staticmethod
    def _close() -> None:
        if not database.is_closed():
            try:
                database.close()
            except peewee.PeeweeException:  # DatabaseError, or InterfaceError on a closed connection
                pass  # a broken connection: it is gone either way


def _in_transaction(connection: Any) -> bool:
    """A transaction is open on this DB-API connection (psycopg2 or sqlite3)."""
    if hasattr(connection, "get_transaction_status"):
        return bool(connection.get_transaction_status() != PSYCOPG2_IDLE)
    return bool(connection.in_transaction)


class PermanentFailures(Middleware):
    """Log why a message failed for good: Dramatiq only says "expected exception" for the
    actors' ``throws``, and a message whose row does not exist has nowhere else to say it."""

    def after_process_message(self, broker: dramatiq.Broker, message: MessageProxy,
                              *, result: object = None, exception: BaseException | None = None
                              ) -> None:
        if isinstance(exception, PermanentError):
            log.warning("%s%s failed for good (message %s): %s", message.actor_name,
                        tuple(message.args), message.message_id, exception)
