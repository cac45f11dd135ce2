"""Horizon as a payment source: ``/accounts/{a}/payments?join=transactions``, paged then streamed.

Catching up pages ascending, 200 records a page (Horizon's maximum), as fast as Horizon
answers; a page that comes back short means the present is near, and the server-sent event
stream opens from the same cursor (it delivers that short page's records first, then the
new ones as ledgers close). A stream that goes silent for
``ANCHOR_STREAM_SILENCE_TIMEOUT`` raises :class:`~anchor_dramatiq.errors.StreamSilent` (the
streamer reconnects, which pages first again). The reconcile sweep builds its requests with
:func:`~anchor_dramatiq.payments.records.payments_request` too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from anchor_dramatiq.config import Settings
from anchor_dramatiq.errors import StreamSilent
from anchor_dramatiq.paging import as_horizon_cursor
from anchor_dramatiq.payments.records import (
    PAGE,
    Record,
    is_incoming,
    ledger_of,
    needs_transaction,
    payment_fields,
    payments_request,
)
from anchor_dramatiq.stellar.horizon import horizon_server_async
from anchor_dramatiq.streaming.cursor import after_ledger
from anchor_dramatiq.streaming.source import Item

log = logging.getLogger(__name__)


class HorizonSource:
    """One account's payments from Horizon (see the module docstring)."""

    def __init__(self, account: str, settings: Settings) -> None:
        self.account = account
        self.silence_timeout = settings.stream_silence_timeout
        self.server = horizon_server_async(settings)
        self.latest_ledger: int | None = None
        self.pages = 0

    async def present_cursor(self) -> str:
        return after_ledger(await self._latest())

    async def _latest(self) -> int:
        page = await self.server.ledgers().order(desc=True).limit(1).call()
        latest = int(page["_embedded"]["records"][0]["sequence"])
        self.latest_ledger = max(self.latest_ledger or 0, latest)
        return latest

    def _item(self, record: Record) -> Item:
        token = record["paging_token"]
        self.latest_ledger = max(self.latest_ledger or 0, ledger_of(token))
        incoming = record if is_incoming(record, self.account) else None
        return Item(incoming, token, record.get("created_at"))

    async def items(self, cursor: str) -> AsyncIterator[Item]:
        cursor = as_horizon_cursor(cursor)  # a cursor an RPC source stored is an event id
        try:  # only the lag figures use it: a failed look must not hold the payments back
            await self._latest()
        except Exception as exc:
            log.debug("latest ledger unknown for %s (%s)", self.account, type(exc).__name__)
        while True:  # catch up a full page at a time; what is left (less than a page) streams
            records = (await payments_request(self.server, self.account, cursor).call()
                       )["_embedded"]["records"]
            if len(records) < PAGE:
                break
            self.pages += 1
            for record in records:
                yield self._item(await self._with_transaction(record))
            cursor = records[-1]["paging_token"]
        events = payments_request(self.server, self.account, cursor).stream()
        try:
            while True:
                try:
                    record = await asyncio.wait_for(anext(events), timeout=self.silence_timeout)
                except TimeoutError:
                    raise StreamSilent() from None
                except StopAsyncIteration:
                    return
                yield self._item(await self._with_transaction(record))
        finally:
            await events.aclose()

    async def _with_transaction(self, record: Record) -> Record:
        """A record that came without its joined transaction gets it fetched (the memo lives there)."""
        if is_incoming(record, self.account) and needs_transaction(record):
            tx = await self.server.transactions().transaction(record["transaction_hash"]).call()
            record = {**record, "transaction": tx}
        return record

    def fields(self, record: Record) -> dict[str, Any]:
        return payment_fields(record, self.account)

    async def close(self) -> None:
        await self.server.close()
