"""One writer at a time per payment: what a refund request and a re-match both take first.

Whoever holds the payment's row decides, on what it reads under the lock, whether the
payment is still refundable (no refund yet) or still free to be matched; the other waits
and then sees the first one's committed change.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from anchor_dramatiq.db import database, is_postgres, is_sqlite
from anchor_dramatiq.models import Payment


@contextmanager
def locked_payment(payment_id: int) -> Iterator[Payment | None]:
    """The payment's row, locked until the block ends (PostgreSQL: ``FOR UPDATE``; SQLite:
    the database's write lock taken up front)."""
    atomic = database.atomic(lock_type="IMMEDIATE") if is_sqlite() else database.atomic()
    with atomic:
        query = Payment.select().where(Payment.id == payment_id)
        if is_postgres():
            query = query.for_update()
        yield query.first()
