"""The streamer's supervisor: a stream per watched account, and the outbox publisher.

Each account's payments come from the source ``ANCHOR_NETWORK_API`` names: Horizon's
payments (:mod:`.horizon_source`) or Stellar RPC's events (:mod:`.rpc_source`).
The watched accounts (assets' distribution accounts) are re-read every
``accounts_refresh`` seconds, so a new asset is streamed without a restart. An asset whose
seed does not decrypt or parse is logged at ERROR and left out; every other one is streamed. Recording
never waits for the broker: a separate task publishes ``process_payments`` (batches of
operation ids) for rows not yet confirmed sent, woken by each recorded batch and retried
with backoff while the broker is down.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import dramatiq

from anchor_dramatiq.config import Settings
from anchor_dramatiq.metrics import StreamMeter
from anchor_dramatiq.payments import outbox
from anchor_dramatiq.payments.accounts import asset_accounts
from anchor_dramatiq.streaming.backoff import Backoff
from anchor_dramatiq.streaming.dbthread import DatabaseThread
from anchor_dramatiq.streaming.horizon_source import HorizonSource
from anchor_dramatiq.streaming.rpc_source import RpcSource
from anchor_dramatiq.streaming.source import PaymentSource
from anchor_dramatiq.streaming.stream import AccountStream
from anchor_dramatiq.vocabulary import NetworkApi

log = logging.getLogger(__name__)

ACCOUNTS_REFRESH_S = 30.0
PUBLISH_IDLE_S = 5.0


async def _sleep_unless(event: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(event.wait(), timeout=seconds)
    except TimeoutError:
        pass


class Streamer:
    def __init__(self, settings: Settings, broker: dramatiq.Broker, *,
                 accounts_refresh: float = ACCOUNTS_REFRESH_S, meter: StreamMeter | None = None) -> None:
        settings.require("secret_key")
        self.settings = settings
        self.broker = broker
        self.meter = meter
        self.accounts_refresh = accounts_refresh
        self.streams: dict[str, AccountStream] = {}
        self.invalid_assets: set[str] = set()
        self._wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; every recorded payment and its cursor are committed on return."""
        db = DatabaseThread()
        publisher_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="streamer-publish")
        tasks: dict[str, asyncio.Task] = {}
        publisher = asyncio.create_task(self._publish_loop(stop, db, publisher_pool))
        try:
            while not stop.is_set():
                await self._refresh(stop, db, tasks)
                await _sleep_unless(stop, self.accounts_refresh)
        finally:
            for task in [*tasks.values(), publisher]:
                task.cancel()
            await asyncio.gather(*tasks.values(), publisher, return_exceptions=True)
            publisher_pool.shutdown(wait=True)
            db.close()

    async def _refresh(self, stop: asyncio.Event, db: DatabaseThread,
                       tasks: dict[str, asyncio.Task]) -> None:
        try:
            found = await db(asset_accounts, self.settings.secret_key)
        except Exception as exc:
            log.warning("cannot read the watched accounts (%s); keeping %d streams", exc, len(tasks))
            return
        self._report_invalid(found.invalid)
        accounts = found.watched()
        for account in accounts:
            if account not in tasks or tasks[account].done():
                stream = AccountStream(account, self.settings, db, self._wake.set, stop,
                                       meter=self.meter, source_factory=self._source_factory(db))
                self.streams[account] = stream
                tasks[account] = asyncio.create_task(stream.run(), name=f"stream-{account[:8]}")
        for account in set(tasks) - set(accounts):
            log.info("no asset uses %s any more; its stream stops", account)
            tasks.pop(account).cancel()
            self.streams.pop(account, None)

    def _source_factory(self, db: DatabaseThread) -> Callable[[str, Settings], PaymentSource]:
        """The payment source ``ANCHOR_NETWORK_API`` names: Horizon's payments, or RPC's events."""
        if self.settings.network_api == NetworkApi.RPC:
            return functools.partial(RpcSource, db=db, meter=self.meter)
        return HorizonSource

    def _report_invalid(self, invalid: dict[str, str]) -> None:
        """Log each asset whose seed cannot be used once at ERROR (and once when it is fixed)."""
        for asset_key in sorted(set(invalid) - self.invalid_assets):
            log.error("asset %s is not watched: %s; payments to its distribution account are not "
                      "detected until its seed is replaced (anchor-dramatiq asset add --update)",
                      asset_key, invalid[asset_key])
        for asset_key in sorted(self.invalid_assets - set(invalid)):
            log.info("asset %s has a usable seed again (or is gone)", asset_key)
        self.invalid_assets = set(invalid)

    async def _publish_loop(self, stop: asyncio.Event, db: DatabaseThread,
                            pool: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        backoff = Backoff(base=1.0, cap=30.0)
        while not stop.is_set():
            self._wake.clear()
            try:
                ids = await db(outbox.due)
                if ids:
                    await loop.run_in_executor(pool, outbox.publish, self.broker, ids)
                    backoff.reset()
                    if len(ids) == outbox.PAGE:
                        continue
            except Exception as exc:
                delay = backoff.next()
                log.warning("cannot publish process_payments (%s: %s); payments stay recorded, "
                            "retrying in %.1fs", type(exc).__name__, exc, delay)
                await _sleep_unless(stop, delay)
                continue
            await self._idle(stop)

    async def _idle(self, stop: asyncio.Event) -> None:
        """Wait for a new payment row, ``stop``, or the idle interval (rows a worker sweep left)."""
        waiters = [asyncio.create_task(self._wake.wait()), asyncio.create_task(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=PUBLISH_IDLE_S, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
