"""Dramatiq middleware of the project's own: database connections per message, and the
reason of every permanent failure in the log."""

from __future__ import annotations

import logging

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware

from anchor_dramatiq.db import database
from anchor_dramatiq.errors import PermanentError

log = logging.getLogger(__name__)


class DatabaseConnections(Middleware):
    """One database connection per worker thread, opened and closed around each message.

    Closing after every message means no connection is left idle in a broken state after
    a database restart, and no transaction can stay open across messages.
    """

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        database.connect(reuse_if_open=True)

    def after_process_message(self, broker: dramatiq.Broker, message: MessageProxy,
                              *, result: object = None, exception: BaseException | None = None
                              ) -> None:
        self._close()

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self._close()

    @staticmethod
    def _close() -> None:
        if not database.is_closed():
            database.close()


class PermanentFailures(Middleware):
    """Log why a message failed for good: Dramatiq only says "expected exception" for the
    actors' ``throws``, and a message whose row does not exist has nowhere else to say it."""

    def after_process_message(self, broker: dramatiq.Broker, message: MessageProxy,
                              *, result: object = None, exception: BaseException | None = None
                              ) -> None:
        if isinstance(exception, PermanentError):
            log.warning("%s%s failed for good (message %s): %s", message.actor_name,
                        tuple(message.args), message.message_id, exception)
