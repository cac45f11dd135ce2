"""Reconcile: re-read each watched account's payments back to the oldest waiting withdrawal.

The stream should have recorded them all; this catches what it did not (a Horizon that
dropped events, an account watched late). It pages ``/accounts/{a}/payments`` newest
first until it passes the oldest waiting transaction's start (less a margin), inserts the
payments not yet in ``anchor_payment`` (a page's new rows in one insert, with the
streamer's own request and row fields) and returns them for publishing. It never moves a
stream cursor: when the stream reaches those payments their insert is a no-op.
"""

from __future__ import annotations

import datetime as dt
import logging

from stellar_sdk import Server

from anchor_dramatiq.db import database
from anchor_dramatiq.models import Transaction
from anchor_dramatiq.payments.matching import waiting
from anchor_dramatiq.payments.records import (
    PAGE,
    insert_payments,
    is_incoming,
    parse_time,
    payment_fields,
    payments_request,
)

log = logging.getLogger(__name__)

MARGIN = dt.timedelta(minutes=5)  # clock differences between the anchor and the network


def oldest_waiting() -> dt.datetime | None:
    """When the oldest withdrawal or send still waiting for its payment started."""
    row = (Transaction.select(Transaction.started_at).where(waiting())
           .order_by(Transaction.started_at).first())
    return row.started_at if row else None


def reconcile_account(server: Server, account: str, since: dt.datetime,
                      page_size: int = PAGE) -> list[str]:
    """Record payments to ``account`` since ``since`` the database lacks; their operation ids.

    Pages with the streamer's request (newest first), each page's new rows in one insert.
    """
    missing: list[str] = []
    cursor: str | None = None
    while True:
        records = payments_request(server, account, cursor, descending=True,
                                   limit=page_size).call()["_embedded"]["records"]
        recent = []
        for record in records:
            created = parse_time(record.get("created_at"))
            if created is not None and created < since:
                break
            recent.append(record)
        rows = [payment_fields(r, account) for r in recent if is_incoming(r, account)]
        with database.atomic():
            inserted = insert_payments(rows)
        for operation_id in inserted:
            log.warning("reconcile recorded payment %s the stream had not", operation_id,
                        extra={"operation_id": operation_id})
        missing += inserted
        if len(recent) < len(records) or len(records) < page_size:
            return missing
        cursor = records[-1]["paging_token"]


def reconcile(server: Server, accounts: list[str]) -> list[str]:
    """Reconcile every account; nothing to do when no withdrawal or send is waiting."""
    oldest = oldest_waiting()
    if oldest is None:
        return []
    since = oldest - MARGIN
    recorded: list[str] = []
    for account in accounts:
        recorded += reconcile_account(server, account, since)
    return recorded
