"""``anchor_cursor``: where each account's stream resumes, advanced with the payments it covers.

A batch of payment rows and the cursor past its last record are written in one database
transaction, so the cursor never passes a payment that is not recorded, and a replay after
a crash only re-reads rows that are already there (a no-op by operation id).
"""

from __future__ import annotations

from typing import Any

from anchor_dramatiq.db import database, utcnow
from anchor_dramatiq.models import Cursor
from anchor_dramatiq.paging import ledger_of, position
from anchor_dramatiq.payments.records import Record, insert_payments, is_incoming, payment_fields


def after_ledger(ledger: int) -> str:
    """The paging token just past every operation of ``ledger`` (Horizon's ``cursor=now``)."""
    return str(((ledger + 1) << 32) - 1)


def stored_cursor(account: str) -> str | None:
    row = Cursor.get_or_none(Cursor.account == account)
    return row.paging_token if row else None


def pin_cursor(account: str, paging_token: str) -> str:
    """Store the first cursor of an account unless one exists; return the one in force.

    ``now`` is resolved to a concrete token before it is stored, so a reconnect never
    re-asks for ``now`` and skips what arrived in between.
    """
    with database.atomic():
        row = Cursor.get_or_none(Cursor.account == account)
        if row is not None:
            return row.paging_token
        Cursor.create(account=account, paging_token=paging_token, updated_at=utcnow())
    return paging_token


def record_batch(account: str, rows: list[dict[str, Any]], paging_token: str) -> list[str]:
    """Record a batch of payment rows and move ``account``'s cursor to ``paging_token``, in one
    database transaction; the operation ids that were new.

    ``paging_token`` is the last record the batch covers (a record that is not an incoming
    payment still moves it), a Horizon paging token or an RPC event id. The cursor only moves
    forward (:func:`~anchor_dramatiq.paging.position` orders both forms): a second streamer
    or a replay never winds it back. Any error rolls back the rows and the cursor together.
    """
    now = utcnow()
    ledger = ledger_of(paging_token)
    with database.atomic():
        inserted = insert_payments(rows)
        row = Cursor.get_or_none(Cursor.account == account)
        if row is None:
            Cursor.create(account=account, paging_token=paging_token, last_ledger=ledger,
                          last_event_at=now, updated_at=now)
        elif position(row.paging_token) < position(paging_token):
            (Cursor.update(paging_token=paging_token, last_ledger=ledger, last_event_at=now,
                           updated_at=now)
             .where(Cursor.account == account).execute())
    return inserted


def record_event(record: Record, account: str) -> bool:
    """Record one payment record (if it pays ``account``) and move the cursor past it; True
    when a new ``anchor_payment`` row was inserted."""
    rows = [payment_fields(record, account)] if is_incoming(record, account) else []
    return bool(record_batch(account, rows, record["paging_token"]))


def note_gap(account: str, reason: str) -> None:
    """Say on ``account``'s cursor why its stream cannot read on (``status`` shows it)."""
    Cursor.update(gap=reason, updated_at=utcnow()).where(Cursor.account == account).execute()


def clear_gap(account: str) -> None:
    """The stream reads on from its cursor again."""
    (Cursor.update(gap=None, updated_at=utcnow())
     .where((Cursor.account == account) & Cursor.gap.is_null(False)).execute())


def stream_status() -> list[dict[str, Any]]:
    """Per watched account: cursor, ledger of the last event, its age in seconds, and the gap
    its stream is filling or held on (None when it streams normally).

    For ``anchor-dramatiq status`` and the metrics: a growing age on an account that should
    be busy means the stream is stuck.
    """
    now = utcnow()
    out = []
    for row in Cursor.select().order_by(Cursor.account):
        age = (now - row.last_event_at).total_seconds() if row.last_event_at else None
        out.append({"account": row.account, "paging_token": row.paging_token,
                    "last_ledger": row.last_ledger,
                    "last_event_at": row.last_event_at.isoformat() if row.last_event_at else None,
                    "last_event_age_seconds": age, "gap": row.gap})
    return out
