"""Stellar RPC as a payment source: ``getEvents`` for one watched account, paged then polled.

Each call is :meth:`RpcNetwork.incoming <anchor_dramatiq.network.rpc.RpcNetwork.incoming>`
for this account (CAP-67 ``transfer``/``mint`` events whose ``to`` is the account, credited
only when the asset's own contract emitted them; the rows are made there), run on a worker
thread. An event another contract emitted that names one of the anchor's assets is recorded
settled ``rejected`` (:mod:`~anchor_dramatiq.payments.forged`); other claims are counted as
ignored. While behind it pages at once; once a page reaches the node's latest ledger it polls
every :data:`POLL_S` seconds. A node whose latest ledger stands still for
``ANCHOR_STREAM_SILENCE_TIMEOUT`` raises :class:`~anchor_dramatiq.errors.StreamSilent`, like
Horizon's silent stream. The cursor is an event id; a stored Horizon paging token is read on
from with :func:`~anchor_dramatiq.paging.as_event_cursor`.

A cursor older than the node's retention (a :class:`~anchor_dramatiq.network.answers.Gap`) is
never skipped: the gap is logged at ERROR, counted in the stream meter and written on the
cursor row for ``status``; its ledgers are then read from Horizon's history
(``ANCHOR_HORIZON_URL``) and recorded through the same batch writer, and RPC resumes from
there. When no Horizon answers with that history, the account's stream stops with the reason
(:class:`GapUnfilled`) and tries again after its backoff; other accounts stream on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from anchor_dramatiq.config import Settings
from anchor_dramatiq.errors import StreamSilent
from anchor_dramatiq.metrics import StreamMeter
from anchor_dramatiq.network.answers import Gap, NoReply, PaymentPage
from anchor_dramatiq.network.factory import history_for, rpc_for
from anchor_dramatiq.network.horizon import HorizonNetwork
from anchor_dramatiq.paging import as_event_cursor, as_horizon_cursor, end_of_ledger, ledger_of, toid
from anchor_dramatiq.payments.forged import record_claims
from anchor_dramatiq.payments.records import Record
from anchor_dramatiq.streaming.cursor import clear_gap, note_gap
from anchor_dramatiq.streaming.dbthread import DatabaseThread
from anchor_dramatiq.streaming.source import Item

log = logging.getLogger(__name__)

POLL_S = 1.0  # between polls once caught up (a ledger closes every ~5 s)
EVENTS_PER_REQUEST = 1000  # getEvents' limit per request (stellar-rpc allows up to 10,000)
# A quiet account's cursor is stored when it is this many ledgers past the stored one (about a
# minute), not at every poll: it stays well inside RPC's retention, and a restart re-reads
# at most that many empty ledgers.
CURSOR_EVERY_LEDGERS = 12


class SourceUnavailable(Exception):
    """The node gave no answer that proves anything: reconnect after the backoff."""


class GapUnfilled(Exception):
    """Ledgers after the cursor are on neither the RPC node nor a reachable Horizon: the
    account's stream is held (nothing recorded past the gap) until they can be read."""


def _item(row: Record) -> Item:
    closed = row.get("created_at")
    return Item(row, row["paging_token"], closed.isoformat() if closed is not None else None)


class RpcSource:
    """One account's payments from Stellar RPC (see the module docstring)."""

    def __init__(self, account: str, settings: Settings, *, db: DatabaseThread,
                 meter: StreamMeter | None = None, poll_interval: float = POLL_S) -> None:
        self.account = account
        self.settings = settings
        self.network = rpc_for(settings)
        self.db = db
        self.meter = meter
        self.poll_interval = poll_interval
        self.latest_ledger: int | None = None
        self.pages = 0

    async def present_cursor(self) -> str:
        head = await asyncio.to_thread(self.network.latest_ledger)
        if isinstance(head, NoReply):
            raise SourceUnavailable(head.summary)
        self.latest_ledger = head.sequence
        return end_of_ledger(head.sequence)

    async def items(self, cursor: str) -> AsyncIterator[Item]:
        cursor = as_event_cursor(cursor)
        stored = ledger_of(cursor)  # the ledger of the last cursor handed to the writer
        streaming = False  # a page came from RPC on this connection (any gap is behind us)
        seen, seen_at = self.latest_ledger, time.monotonic()
        while True:
            answer = await asyncio.to_thread(self.network.incoming, [self.account], cursor,
                                             EVENTS_PER_REQUEST)
            if isinstance(answer, NoReply):
                raise SourceUnavailable(answer.summary)
            if isinstance(answer, Gap):
                async for item in self._fill(answer):
                    yield item
                    cursor = item.paging_token
                cursor = as_event_cursor(cursor)
                stored = ledger_of(cursor)
                continue
            if not streaming:
                streaming = True
                await self._gap_closed()
            forged, ignored = (await self.db(record_claims, answer.claims,
                                             self.settings.network_passphrase)
                               if answer.claims else ([], 0))
            if (answer.ignored or ignored) and self.meter is not None:
                self.meter.ignored(self.account, answer.ignored + ignored)
            for row in sorted([*answer.rows, *forged], key=lambda r: r["paging_token"]):
                yield _item(row)
            if answer.cursor != cursor and (answer.rows or answer.ignored or ledger_of(
                    answer.cursor) - stored >= CURSOR_EVERY_LEDGERS):
                yield Item(None, answer.cursor, None)  # past what the page read
                stored = ledger_of(answer.cursor)
            cursor = answer.cursor
            self.pages += 1
            latest = answer.latest_ledger
            if latest is not None and (seen is None or latest > seen):
                seen, seen_at = latest, time.monotonic()
                self.latest_ledger = latest
            elif time.monotonic() - seen_at > self.settings.stream_silence_timeout:
                raise StreamSilent()
            if latest is None or ledger_of(cursor) >= latest:
                await asyncio.sleep(self.poll_interval)

    async def _fill(self, gap: Gap) -> AsyncIterator[Item]:
        """The gap's ledgers from Horizon's history, then the cursor at RPC's oldest ledger."""
        first, last = gap.after_ledger + 1, gap.oldest_ledger - 1
        what = (f"ledgers {first}..{last} after cursor {gap.cursor} are older than the RPC node "
                f"keeps (oldest {gap.oldest_ledger})")
        log.error("stream of %s: %s; nothing is skipped: filling them from Horizon at %s",
                  self.account, what, self.settings.horizon_url,
                  extra={"account": self.account})
        self.latest_ledger = max(self.latest_ledger or 0, gap.latest_ledger)
        self._measure_gap(last - first + 1, held=False)
        await self.db(note_gap, self.account, f"{what}: filling from Horizon")
        history = history_for(self.settings)
        try:
            held = await asyncio.to_thread(self._unfillable, history, first)
            if held is not None:
                raise await self._hold(f"{what}: {held}", last - first + 1)
            cursor = as_horizon_cursor(gap.cursor)
            while ledger_of(cursor) < gap.oldest_ledger:
                page = await asyncio.to_thread(history.incoming, [self.account], cursor)
                if not isinstance(page, PaymentPage):
                    raise await self._hold(f"{what}: Horizon did not answer ({page})",
                                           last - first + 1)
                for row in page.rows:
                    yield _item(row)
                if page.cursor == cursor:  # Horizon has nothing after the cursor
                    if page.latest_ledger is None or page.latest_ledger < last:
                        raise await self._hold(f"{what}: Horizon has ingested only up to ledger "
                                         f"{page.latest_ledger}", last - first + 1)
                    cursor = str(toid(gap.oldest_ledger))  # every operation before that ledger
                else:
                    cursor = page.cursor
                yield Item(None, cursor, None)
        finally:
            await asyncio.to_thread(history.close)
        log.warning("stream of %s: ledgers %d..%d filled from Horizon; reading on over RPC",
                    self.account, first, last, extra={"account": self.account})

    def _unfillable(self, history: HorizonNetwork, first: int) -> str | None:
        """Why Horizon cannot fill a gap starting at ``first`` (None: it holds that history)."""
        held = history.history_range()
        if isinstance(held, NoReply):
            return f"no Horizon answered at {self.settings.horizon_url} ({held.summary})"
        elder, _latest = held
        if elder > first:
            return f"Horizon at {self.settings.horizon_url} keeps history from ledger {elder} only"
        return None

    async def _hold(self, reason: str, ledgers: int) -> GapUnfilled:
        """Report the account held (log, meter, cursor row); the error to stop its stream with."""
        log.error("stream of %s held: %s; nothing after the gap is recorded until it is read "
                  "(point ANCHOR_HORIZON_URL at a Horizon with that history); trying again",
                  self.account, reason, extra={"account": self.account})
        self._measure_gap(ledgers, held=True)
        await self.db(note_gap, self.account, f"held: {reason}")
        return GapUnfilled(reason)

    async def _gap_closed(self) -> None:
        self._measure_gap(0, held=False)
        await self.db(clear_gap, self.account)

    def _measure_gap(self, ledgers: int, held: bool) -> None:
        if self.meter is not None:
            self.meter.gap(self.account, ledgers, held)

    def fields(self, record: Record) -> dict[str, Any]:
        """RPC's pages are ``anchor_payment`` rows already (made by the network package)."""
        return record

    async def close(self) -> None:
        await asyncio.to_thread(self.network.close)
