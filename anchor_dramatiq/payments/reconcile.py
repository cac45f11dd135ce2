"""Reconcile: re-read each watched account's payments back to the oldest waiting withdrawal.

The stream should have recorded them all; this catches what it did not (a Horizon that
dropped events, an account watched late). It pages ``/accounts/{a}/payments`` newest
first until it passes the oldest waiting transaction's start (less a margin), inserts the
payments not yet in ``anchor_payment`` and returns them for publishing. It never moves a
stream cursor: when the stream reaches those payments their insert is a no-op.
"""

from __future__ import annotations

import datetime as dt
import logging

from stellar_sdk import Server

from anchor_dramatiq.models import Payment, Transaction
from anchor_dramatiq.payments.matching import waiting
from anchor_dramatiq.payments.records import insert_payment, is_incoming, parse_time

log = logging.getLogger(__name__)

PAGE = 200
MARGIN = dt.timedelta(minutes=5)  # clock differences between the anchor and the network


def oldest_waiting() -> dt.datetime | None:
    """When the oldest withdrawal or send still waiting for its payment started."""
    row = (Transaction.select(Transaction.started_at).where(waiting())
           .order_by(Transaction.started_at).first())
    return row.started_at if row else None


def reconcile_account(server: Server, account: str, since: dt.datetime,
                      page_size: int = PAGE) -> list[str]:
    """Record payments to ``account`` since ``since`` the database lacks; their operation ids."""
    missing: list[str] = []
    cursor: str | None = None
    while True:
        builder = server.payments().for_account(account).join("transactions").order(desc=True)
        builder = builder.limit(page_size)
        if cursor is not None:
            builder = builder.cursor(cursor)
        records = builder.call()["_embedded"]["records"]
        known = {row.operation_id for row in Payment.select(Payment.operation_id)
                 .where(Payment.operation_id.in_([r["id"] for r in records]))} if records else set()
        for record in records:
            created = parse_time(record.get("created_at"))
            if created is not None and created < since:
                return missing
            if (is_incoming(record, account) and record["id"] not in known
                    and insert_payment(record, account)):
                log.warning("reconcile recorded payment %s the stream had not", record["id"],
                            extra={"operation_id": record["id"]})
                missing.append(record["id"])
        if len(records) < page_size:
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
