"""``demo`` and ``run``: the whole system in one process."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click

from anchor_dramatiq.vocabulary import NetworkApi


@click.command()
@click.option("--deposits", "-n", type=click.IntRange(0, 10_000), default=20, show_default=True)
@click.option("--withdrawals", "-m", type=click.IntRange(0, 10_000), default=10, show_default=True)
@click.option("--ledger-interval", type=click.FloatRange(0.05, 10), default=0.5, show_default=True,
              help="Seconds between simnet ledger closes")
@click.option("--channels", type=click.IntRange(0, 100), default=4, show_default=True,
              help="Channel accounts to submit through")
@click.option("--faults/--no-faults", default=False, show_default=True,
              help="Inject 504s that still apply, 503s and dropped streams")
@click.option("--keep", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Keep the SQLite database at this path (for `anchor-dramatiq status`)")
@click.option("--timeout", type=click.FloatRange(1, 3600), default=120, show_default=True,
              help="Give up (exit 1) if not everything is terminal by then")
@click.option("--refund-rejected", is_flag=True,
              help="Refund rejected payments automatically (ANCHOR_REFUND_REJECTED): the look-alike "
                   "payment goes back to its sender, and the final check looks for it on the ledger")
@click.option("--network-api", type=click.Choice([api.value for api in NetworkApi]),
              default=NetworkApi.HORIZON.value,
              show_default=True,
              help="The Stellar API the jobs use (ANCHOR_NETWORK_API): simnet's Horizon or its RPC")
def demo(deposits: int, withdrawals: int, ledger_interval: float, channels: int, faults: bool,
         keep: Path | None, timeout: float, refund_rejected: bool, network_api: str) -> None:
    """Run deposits and withdrawals end to end on an in-process simnet; exit 0 if all is right."""
    from anchor_dramatiq.demo import DemoOptions, run_demo

    options = DemoOptions(deposits=deposits, withdrawals=withdrawals, ledger_interval=ledger_interval,
                          channels=channels, faults=faults, database=keep.resolve() if keep else None,
                          timeout=timeout, refund_rejected=refund_rejected, network_api=network_api)
    raise SystemExit(run_demo(options))


@click.command()
@click.option("--threads", type=click.IntRange(1, 64), default=8, show_default=True)
def run(threads: int) -> None:
    """Workers, scheduler and streamer in one process (in-process broker unless ANCHOR_BROKER_URL)."""
    from anchor_dramatiq.boot import boot, declare_actors
    from anchor_dramatiq.config import get_settings
    from anchor_dramatiq.embedded import EmbeddedWorkers, StreamerThread

    settings = get_settings()
    settings.require("secret_key")
    boot(settings)
    broker = declare_actors()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    runtime = EmbeddedWorkers(broker, threads=threads)
    streamer = StreamerThread(settings, broker)
    runtime.start()
    streamer.start()
    click.echo(f"running: {threads} worker threads, scheduler, streamer (Ctrl-C to stop)", err=True)
    stop.wait()
    click.echo("stopping: letting in-flight work finish", err=True)
    streamer.stop()
    runtime.stop()
