"""Workers, scheduler and streamer in one process, on the in-process broker.

The embedded mode (``anchor-dramatiq run`` / ``demo``) wires the production pieces together
in threads: the same actors run on Dramatiq worker threads, and :class:`EmbeddedScheduler`
sends the same periodiq ticks periodiq would (``scheduled_at`` included), so per-tick
idempotency and sub-minute fan-out take the same code path as in production.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import timedelta

import dramatiq
import pendulum
from dramatiq import Worker

from anchor_dramatiq.config import Settings
from anchor_dramatiq.streaming.supervisor import Streamer

log = logging.getLogger(__name__)


class EmbeddedScheduler(threading.Thread):
    """periodiq's loop, in a thread: at each minute, send every tick whose cron matches.

    periodiq itself needs the main thread (it sleeps with SIGALRM), which the embedded
    process keeps for its own use.
    """

    def __init__(self, broker: dramatiq.Broker) -> None:
        super().__init__(name="embedded-scheduler", daemon=True)
        self.ticks = [actor for actor in broker.actors.values() if "periodic" in actor.options]
        self.stopped = threading.Event()

    def run(self) -> None:
        now = pendulum.now("UTC").replace(microsecond=0)
        while not self.stopped.is_set():
            for actor in self.ticks:
                if actor.options["periodic"].validate(now):
                    actor.send_with_options(scheduled_at=str(now))
            next_minute = now.replace(second=0) + timedelta(minutes=1)
            wait = (next_minute - pendulum.now("UTC")).total_seconds()
            if self.stopped.wait(max(wait, 0)):
                return
            now = next_minute

    def stop(self) -> None:
        self.stopped.set()


class EmbeddedWorkers:
    """Dramatiq worker threads and the scheduler over one in-process broker."""

    def __init__(self, broker: dramatiq.Broker, threads: int = 8, schedule: bool = True) -> None:
        self.broker = broker
        self.worker = Worker(broker, worker_timeout=100, worker_threads=threads)
        self.scheduler = EmbeddedScheduler(broker) if schedule else None

    def start(self) -> None:
        self.broker.emit_after("process_boot")
        self.worker.start()
        if self.scheduler:
            self.scheduler.start()
        log.info("embedded workers started (%d threads)", self.worker.worker_threads)

    def stop(self) -> None:
        if self.scheduler:
            self.scheduler.stop()
        self.worker.stop(timeout=30_000)


class StreamerThread(threading.Thread):
    """The streamer's asyncio loop in a thread, stopped the way SIGTERM stops the process."""

    def __init__(self, settings: Settings, broker: dramatiq.Broker) -> None:
        super().__init__(name="embedded-streamer", daemon=True)
        self.settings = settings
        self.broker = broker
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._started = threading.Event()

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        self._started.set()
        await Streamer(self.settings, self.broker).run(self._stop_event)

    def start(self) -> None:
        super().start()
        self._started.wait(10)

    def stop(self, timeout: float = 30) -> None:
        if self._loop and self._stop_event:
            self._loop.call_soon_threadsafe(self._stop_event.set)
        self.join(timeout)
