"""``python streamer.py``: run the streamer until SIGTERM or SIGINT, then exit 0.

Each batch of payments is committed with its cursor as it is recorded, so stopping at any
moment loses nothing; a clean stop waits for the write in progress.
"""

from __future__ import annotations

import asyncio
import logging
import signal

import dramatiq

from anchor_dramatiq.boot import boot
from anchor_dramatiq.config import Settings, settings_or_exit
from anchor_dramatiq.metrics import StreamMeter, start_metrics_server
from anchor_dramatiq.streaming.supervisor import Streamer

log = logging.getLogger("anchor_dramatiq.streamer")


async def run(settings: Settings, broker: dramatiq.Broker, meter: StreamMeter | None = None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info("streamer started")
    await Streamer(settings, broker, meter=meter).run(stop)
    log.info("streamer stopped; every recorded payment and cursor is saved")


def main() -> int:
    settings = settings_or_exit("secret_key")
    broker = boot(settings)
    meter = StreamMeter() if settings.metrics_port else None
    start_metrics_server(settings, extra=meter.collectors() if meter else None)
    try:
        asyncio.run(run(settings, broker, meter))
    finally:
        broker.close()
    return 0
