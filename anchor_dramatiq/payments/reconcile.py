"""Reconcile: re-read each watched account's payments back to the oldest waiting withdrawal.

The stream should have recorded them all; this catches what it did not (a Horizon that
dropped events, an account watched late). It reads the backend ``ANCHOR_NETWORK_API`` names
(:func:`reconcile_configured`). Over Horizon it pages ``/accounts/{a}/payments`` newest
first until it passes the oldest waiting transaction's start (less a margin). Over Stellar
RPC, which cannot page backwards, it pages ``getEvents`` for all watched accounts forward
from the ledger of that start -- bounded from below by close times, which rise by at least a
second a ledger -- and no further back than the node's retention (``oldestLedger``): an older
start is logged and read from the oldest ledger kept (the streamer's gap fill, not this sweep,
covers what RPC no longer keeps). Either way it inserts the payments not yet in
``anchor_payment`` (a page's new rows in one insert, with the streamer's own row fields) and
returns them for publishing. It never moves a stream cursor: when the stream reaches those
payments their insert is a no-op.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from stellar_sdk import Server

from anchor_dramatiq.config import Settings
from anchor_dramatiq.db import database
from anchor_dramatiq.models import Transaction
from anchor_dramatiq.network.answers import Gap, NoReply
from anchor_dramatiq.network.factory import rpc_for
from anchor_dramatiq.network.rpc import RpcNetwork
from anchor_dramatiq.paging import FIRST_LEDGER, event_id, ledger_of
from anchor_dramatiq.payments.forged import record_claims
from anchor_dramatiq.payments.matching import waiting
from anchor_dramatiq.payments.records import (
    PAGE,
    insert_payments,
    is_incoming,
    parse_time,
    payment_fields,
    payments_request,
)
from anchor_dramatiq.stellar.horizon import horizon_server
from anchor_dramatiq.vocabulary import NetworkApi

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
        missing += _record([payment_fields(r, account) for r in recent if is_incoming(r, account)])
        if len(recent) < len(records) or len(records) < page_size:
            return missing
        cursor = records[-1]["paging_token"]


def _record(rows: list[dict[str, Any]]) -> list[str]:
    """Insert the rows the database lacks, in one transaction; their operation ids."""
    with database.atomic():
        inserted = insert_payments(rows)
    for operation_id in inserted:
        log.warning("reconcile recorded payment %s the stream had not", operation_id,
                    extra={"operation_id": operation_id})
    return inserted


class NetworkUnanswered(Exception):
    """The RPC node gave no answer that proves anything: the sweep runs again next time."""


def reconcile_events(rpc: RpcNetwork, accounts: list[str], since: dt.datetime) -> list[str]:
    """Record payments to ``accounts`` in ledgers closed since ``since`` (and any later) that
    the database lacks, from RPC's events; their operation ids."""
    head = rpc.latest_ledger()
    if isinstance(head, NoReply):
        raise NetworkUnanswered(head.summary)
    # Close times rise by at least a second a ledger: no ledger since ``since`` is further back.
    back = max(0, head.closed_at - int(since.timestamp())) + 1
    cursor = event_id(max(FIRST_LEDGER, head.sequence - back))
    missing: list[str] = []
    while True:
        page = rpc.incoming(accounts, cursor)
        if isinstance(page, NoReply):
            raise NetworkUnanswered(page.summary)
        if isinstance(page, Gap):
            log.warning("reconcile over RPC reads from ledger %d on, the oldest its node keeps; "
                        "ledgers %d..%d are older than its retention", page.oldest_ledger,
                        page.after_ledger + 1, page.oldest_ledger - 1)
            cursor = event_id(page.oldest_ledger)
            continue
        missing += _record(page.rows + record_claims(page.claims, rpc.passphrase)[0])
        if (page.cursor == cursor or page.latest_ledger is None
                or ledger_of(page.cursor) >= page.latest_ledger):
            return missing
        cursor = page.cursor


def reconcile_configured(settings: Settings, accounts: list[str]) -> list[str]:
    """Reconcile over the backend ``ANCHOR_NETWORK_API`` names; nothing to do when no
    withdrawal or send is waiting."""
    oldest = oldest_waiting()
    if oldest is None:
        return []
    if settings.network_api == NetworkApi.RPC:
        rpc = rpc_for(settings)
        try:
            return reconcile_events(rpc, accounts, oldest - MARGIN)
        finally:
            rpc.close()
    server = horizon_server(settings)
    try:
        return reconcile(server, accounts)
    finally:
        server.close()


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
