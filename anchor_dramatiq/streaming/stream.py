"""One watched account's payment stream: record each event, resume from the stored cursor.

Every (re)connection starts from the cursor in ``anchor_cursor`` (first start:
``ANCHOR_STREAM_START_CURSOR``, with ``now`` pinned to a concrete token at once), so
nothing between two connections is skipped and a replay only re-reads recorded rows.
Errors reconnect after a capped, jittered backoff; a stream that yields nothing for
``ANCHOR_STREAM_SILENCE_TIMEOUT`` is dropped and reopened (Horizon's idle streams are
silent too, so an idle account reconnects that often, which costs one request).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from stellar_sdk import ServerAsync

from anchor_dramatiq.config import Settings
from anchor_dramatiq.errors import StreamSilent
from anchor_dramatiq.payments.records import Record, is_incoming, needs_transaction
from anchor_dramatiq.stellar.horizon import horizon_server_async
from anchor_dramatiq.streaming.backoff import Backoff
from anchor_dramatiq.streaming.cursor import after_ledger, pin_cursor, record_event, stored_cursor
from anchor_dramatiq.streaming.dbthread import DatabaseThread

log = logging.getLogger(__name__)

STREAM_PAGE = 200  # Horizon's maximum: fewer reconnects (byebye) while catching up


class AccountStream:
    """Streams ``/accounts/{account}/payments?join=transactions`` until ``stop`` is set."""

    def __init__(self, account: str, settings: Settings, db: DatabaseThread,
                 on_recorded: Callable[[], None], stop: asyncio.Event,
                 backoff: Backoff | None = None) -> None:
        self.account = account
        self.settings = settings
        self.db = db
        self.on_recorded = on_recorded
        self.stop = stop
        self.backoff = backoff or Backoff()
        self.connections = 0

    async def run(self) -> None:
        while not self.stop.is_set():
            try:
                await self._stream_once()
            except asyncio.CancelledError:
                raise
            except StreamSilent:
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

    async def _start_cursor(self, server: ServerAsync) -> str:
        cursor = await self.db(stored_cursor, self.account)
        if cursor is not None:
            return cursor
        start = self.settings.stream_start_cursor
        if start == "now":
            page = await server.ledgers().order(desc=True).limit(1).call()
            start = after_ledger(int(page["_embedded"]["records"][0]["sequence"]))
        return await self.db(pin_cursor, self.account, start)

    async def _with_transaction(self, server: ServerAsync, record: Record) -> Record:
        """A record streamed without its joined transaction gets it fetched (the memo lives there)."""
        if is_incoming(record, self.account) and needs_transaction(record):
            tx = await server.transactions().transaction(record["transaction_hash"]).call()
            record = {**record, "transaction": tx}
        return record

    async def _stream_once(self) -> None:
        server = horizon_server_async(self.settings)
        try:
            cursor = await self._start_cursor(server)
            self.connections += 1
            log.info("streaming payments of %s from cursor %s", self.account, cursor)
            events = (server.payments().for_account(self.account).join("transactions")
                      .cursor(cursor).limit(STREAM_PAGE).stream())
            try:
                while True:
                    try:
                        record = await asyncio.wait_for(anext(events),
                                                        timeout=self.settings.stream_silence_timeout)
                    except TimeoutError:
                        raise StreamSilent() from None
                    except StopAsyncIteration:
                        return
                    record = await self._with_transaction(server, record)
                    if await self.db(record_event, record, self.account):
                        self.on_recorded()
                    self.backoff.reset()
            finally:
                await events.aclose()
        finally:
            await server.close()
