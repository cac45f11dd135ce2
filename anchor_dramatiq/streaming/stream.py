"""One watched account's payments: read from a source, record in batches, resume from the cursor.

A reader task takes records from the :class:`~anchor_dramatiq.streaming.source.PaymentSource`
into a bounded queue; the writer takes every record that has arrived (up to
:data:`BATCH_RECORDS`) and records them with the cursor of the last one in one database
transaction on the database thread. When the database is slow the queue fills and the reader
stops reading (the network buffers, never this process's memory). Every (re)connection starts
from the cursor in ``anchor_cursor`` (first start: ``ANCHOR_STREAM_START_CURSOR``, with
``now`` pinned to a concrete token at once), so nothing between two connections is skipped
and a replay only re-reads recorded rows. A failed write drops what was queued and reads it
again from the stored cursor; errors reconnect after a capped, jittered backoff.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from anchor_dramatiq.config import Settings
from anchor_dramatiq.errors import StreamSilent
from anchor_dramatiq.metrics import StreamMeter
from anchor_dramatiq.payments.records import ledger_of, parse_time
from anchor_dramatiq.streaming.backoff import Backoff
from anchor_dramatiq.streaming.cursor import pin_cursor, record_batch, stored_cursor
from anchor_dramatiq.streaming.dbthread import DatabaseThread
from anchor_dramatiq.streaming.horizon_source import HorizonSource
from anchor_dramatiq.streaming.source import Item, PaymentSource

log = logging.getLogger(__name__)

QUEUE_RECORDS = 2_000  # records read but not yet recorded, at most (backpressure)
BATCH_RECORDS = 500  # records per database transaction, at most


class _End(Exception):
    """The reader finished (the source ended the stream): write what is queued, then reconnect."""


def _write(account: str, source: PaymentSource, items: list[Item]) -> list[str]:
    """On the database thread: the batch's rows (parsed here, off the event loop) and its cursor."""
    rows = [source.fields(item.record) for item in items if item.record is not None]
    return record_batch(account, rows, items[-1].paging_token)


class AccountStream:
    """Records ``account``'s payments until ``stop`` is set."""

    def __init__(self, account: str, settings: Settings, db: DatabaseThread,
                 on_recorded: Callable[[], None], stop: asyncio.Event,
                 backoff: Backoff | None = None, meter: StreamMeter | None = None,
                 source_factory: Callable[[str, Settings], PaymentSource] = HorizonSource) -> None:
        self.account = account
        self.settings = settings
        self.db = db
        self.on_recorded = on_recorded
        self.stop = stop
        self.backoff = backoff or Backoff()
        self.meter = meter
        self.source_factory = source_factory
        self.connections = 0
        self.max_queued = 0

    async def run(self) -> None:
        while not self.stop.is_set():
            try:
                await self._connect_once()
            except asyncio.CancelledError:
                raise
            except StreamSilent:
                # An idle account's stream is silent too: reconnecting is routine, not a failure
                # that should push the next attempt further out.
                self.backoff.reset()
                log.warning("stream for %s silent for %.0fs; reconnecting", self.account,
                            self.settings.stream_silence_timeout)
            except Exception as exc:
                log.warning("stream for %s failed (%s: %s); reconnecting", self.account,
                            type(exc).__name__, exc)
            delay = self.backoff.next()
            try:
                await asyncio.wait_for(self.stop.wait(), timeout=delay)
            except TimeoutError:
                pass

    async def _start_cursor(self, source: PaymentSource) -> str:
        cursor = await self.db(stored_cursor, self.account)
        if cursor is not None:
            return cursor
        start = self.settings.stream_start_cursor
        if start == "now":
            start = await source.present_cursor()
        return await self.db(pin_cursor, self.account, start)

    async def _connect_once(self) -> None:
        source = self.source_factory(self.account, self.settings)
        try:
            cursor = await self._start_cursor(source)
            self.connections += 1
            log.info("streaming payments of %s from cursor %s", self.account, cursor)
            queue: asyncio.Queue[Item] = asyncio.Queue(maxsize=QUEUE_RECORDS)
            reader = asyncio.create_task(self._read(source, cursor, queue))
            try:
                await self._write_loop(source, queue, reader)
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
        finally:
            await source.close()

    async def _read(self, source: PaymentSource, cursor: str, queue: asyncio.Queue[Item]) -> None:
        async for item in source.items(cursor):
            await queue.put(item)
        raise _End()

    async def _write_loop(self, source: PaymentSource, queue: asyncio.Queue[Item],
                          reader: asyncio.Task) -> None:
        while True:
            self.max_queued = max(self.max_queued, queue.qsize())
            if queue.empty():
                getter = asyncio.ensure_future(queue.get())
                try:
                    await asyncio.wait([getter, reader], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    if not getter.done():
                        getter.cancel()
                        await asyncio.gather(getter, return_exceptions=True)
                if getter.cancelled():
                    if queue.empty():  # the reader stopped and everything it read is recorded
                        exc = reader.exception()
                        if exc is None or isinstance(exc, _End):
                            return
                        raise exc
                    continue
                batch = [getter.result()]
            else:
                batch = [queue.get_nowait()]
            while len(batch) < BATCH_RECORDS and not queue.empty():
                batch.append(queue.get_nowait())
            started = time.monotonic()
            inserted = await self.db(_write, self.account, source, batch)
            self.backoff.reset()
            if inserted:
                self.on_recorded()
            self._measure(source, batch, len(inserted), time.monotonic() - started)

    def _measure(self, source: PaymentSource, batch: list[Item], inserted: int, seconds: float) -> None:
        if self.meter is None:
            return
        last = batch[-1]
        closed = parse_time(last.created_at)
        lag_s = max(0.0, time.time() - closed.timestamp()) if closed is not None else None
        lag_ledgers = (max(0, source.latest_ledger - ledger_of(last.paging_token))
                       if source.latest_ledger is not None else None)
        self.meter.recorded(self.account, len(batch), inserted, seconds, lag_ledgers, lag_s)
