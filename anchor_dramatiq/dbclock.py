"""The database's clock, for every claim and lease expiry.

Workers on different hosts disagree about the time; the database is one clock they all
share. Expiry is therefore written and compared in SQL (``clock_timestamp()`` on
PostgreSQL — the wall clock even inside a transaction — and ``strftime(..., 'now')`` on
SQLite, in the same naive-UTC text form the datetime columns use there), never with a
worker's ``utcnow()``.
"""

from __future__ import annotations

import datetime as dt

from peewee import SQL, Node, fn

from anchor_dramatiq.db import database, is_sqlite

_SQLITE_FORMAT = "%Y-%m-%d %H:%M:%f"


def now() -> Node:
    """The database's current time, as an SQL expression."""
    return shifted(0)


def shifted(seconds: float) -> Node:
    """The database's current time plus ``seconds`` (negative: in the past), as SQL."""
    if is_sqlite():
        return fn.strftime(_SQLITE_FORMAT, "now", f"{float(seconds):+f} seconds")
    return SQL("(clock_timestamp() + make_interval(secs => %s))", (float(seconds),))


def read() -> dt.datetime:
    """The database's current time, read once (for messages and status, never for expiry)."""
    if is_sqlite():
        value = database.execute_sql("SELECT strftime(?, 'now')", (_SQLITE_FORMAT,)).fetchone()[0]
        return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
    return database.execute_sql("SELECT clock_timestamp()").fetchone()[0].astimezone(dt.UTC)
