"""The streamer's database work, run off the event loop on one dedicated thread.

peewee is synchronous; one thread keeps one connection and serialises the small writes
(a payment row and its cursor). A connection broken by a database restart is closed so
the next call reconnects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import peewee

from anchor_dramatiq.db import database

T = TypeVar("T")


def _guarded(fn: Callable[..., T], *args: Any) -> T:
    try:
        return fn(*args)
    except (peewee.OperationalError, peewee.InterfaceError):
        try:
            database.close()
        except Exception:  # the connection is already unusable; the next call reconnects
            pass
        raise


class DatabaseThread:
    """``await db(fn, *args)`` runs ``fn(*args)`` on the database thread."""

    def __init__(self, name: str = "streamer-db") -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def __call__(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, _guarded, fn, *args)

    def close(self) -> None:
        """Finish queued work (a payment and its cursor commit together), then close the connection."""
        self._pool.submit(lambda: database.is_closed() or database.close())
        self._pool.shutdown(wait=True)
