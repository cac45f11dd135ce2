"""``anchor-dramatiq demo``: the whole system doing its job in one process, with no services.

SQLite, the in-process broker with worker threads, the scheduler and the streamer (the
same actors and code paths as production), simnet in-process and the sandbox rails. It
creates an asset, channel accounts and wallet users, N deposits and M withdrawals (the
users really pay on simnet, plus one look-alike-asset payment and one without a memo; the
issuer's treasury top-up is recorded as internal), runs until every transaction is terminal
(and, with ``--refund-rejected``, the look-alike payment is refunded), then checks the
database against the ledger.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import click

from anchor_dramatiq.config import Settings, configure
from anchor_dramatiq.crypto import Secret
from anchor_dramatiq.vocabulary import NetworkApi
from simnet import Simnet


@dataclass(frozen=True)
class DemoOptions:
    deposits: int = 20
    withdrawals: int = 10
    ledger_interval: float = 0.5
    channels: int = 4
    faults: bool = False
    database: Path | None = None  # None: a scratch file removed at the end
    timeout: float = 120.0
    seed: int = 1
    refund_rejected: bool = False
    network_api: str = NetworkApi.HORIZON


def demo_settings(horizon_url: str, passphrase: str, database: Path, refund_rejected: bool = False,
                  network_api: str = NetworkApi.HORIZON) -> Settings:
    """The embedded configuration: nothing read from the environment, fast schedules.

    ``network_api`` rpc: the jobs talk to simnet's Stellar RPC (``/rpc``) for everything."""
    import secrets

    from stellar_sdk import Keypair

    settings = Settings.from_env({
        "ANCHOR_DATABASE_URL": f"sqlite:///{database}",
        "ANCHOR_HORIZON_URL": horizon_url,
        "ANCHOR_NETWORK_API": network_api,
        "ANCHOR_RPC_URL": f"{horizon_url}/rpc",
        "ANCHOR_NETWORK_PASSPHRASE": passphrase,
        "ANCHOR_SECRET_KEY": secrets.token_urlsafe(32),
        "ANCHOR_SIGNING_SEED": Keypair.random().secret,
        "ANCHOR_SCHEDULE_POLL_PENDING_DEPOSITS": "5s",
        "ANCHOR_SCHEDULE_CHECK_TRUSTLINES": "10s",
        "ANCHOR_SCHEDULE_EXECUTE_OUTGOING": "10s",
        "ANCHOR_SCHEDULE_POLL_OUTGOING": "5s",
        "ANCHOR_SCHEDULE_MAINTENANCE": "10s",
        "ANCHOR_CLAIM_TIMEOUT": "30",
        "ANCHOR_HORIZON_TIMEOUT": "10",
        "ANCHOR_LOG_LEVEL": "WARNING",
        # From the start of history: the treasury top-up is recorded too, deterministically.
        "ANCHOR_STREAM_START_CURSOR": "0",
        "ANCHOR_REFUND_REJECTED": "true" if refund_rejected else "false",
    })
    assert isinstance(settings.secret_key, Secret)
    return settings


def arm_faults(sim: Simnet) -> None:
    """Timeouts that still apply, 5xx that do not, and dropped streams."""
    sim.add_fault("submit_timeout", applied=True, probability=0.3, count=6)
    sim.add_fault("submit_error", status=503, count=2)
    sim.add_fault("stream_drop", after_events=2, count=2)


def run_demo(options: DemoOptions, echo=click.echo) -> int:
    """Run the demo; 0 if every transaction ended as expected and the ledger agrees."""
    from anchor_dramatiq.boot import boot, declare_actors
    from anchor_dramatiq.demo import report
    from anchor_dramatiq.demo import world as world_module
    from anchor_dramatiq.embedded import EmbeddedWorkers, StreamerThread
    from anchor_dramatiq.migrate import migrate
    database = options.database or Path(f"anchor-demo-{int(time.time())}.sqlite3").resolve()
    if database.exists():
        raise click.ClickException(f"{database} exists: remove it or pick another --keep path")
    started = time.monotonic()
    with Simnet(ledger_interval=options.ledger_interval) as sim:
        settings = demo_settings(sim.url, sim.passphrase, database, options.refund_rejected,
                                 options.network_api)
        configure(settings)
        boot(settings)
        broker = declare_actors()

        migrate()
        echo(f"simnet at {sim.url} (the jobs use {options.network_api}); database {database}")
        world = world_module.build_world(sim, settings, options.deposits, options.withdrawals,
                                         options.channels, random.Random(options.seed))
        world.refund_rejected = options.refund_rejected
        world.network_api = options.network_api
        echo(f"asset {world.asset.code}:{world.issuer.public_key[:8]}…, distribution "
             f"{world.distribution.public_key[:8]}…, {options.channels} channel accounts, "
             f"{options.deposits} deposits, {options.withdrawals} withdrawals")
        if options.faults:
            arm_faults(sim)
            echo("faults on: submission timeouts that still apply, 503s, dropped streams")
        runtime = EmbeddedWorkers(broker, threads=8)
        streamer = StreamerThread(settings, broker)
        runtime.start()
        streamer.start()
        payer = threading.Thread(target=_pay_when_streaming, args=(world, settings),
                                 name="demo-wallets", daemon=True)
        payer.start()
        finished = _watch(world, options.timeout, echo)
        streamer.stop()
        runtime.stop()
        payer.join(5)
        for line in report.summary(world, time.monotonic() - started):
            echo(line)
        problems = report.discrepancies(world)
    if not options.database:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
    if not finished:
        problems.insert(0, f"not every transaction was terminal after {options.timeout:.0f}s")
    if problems:
        echo("DISCREPANCIES:", err=True)
        for problem in problems:
            echo(f"  {problem}", err=True)
        return 1
    echo("every transaction reached its expected status and the ledger agrees with the database")
    return 0


def _pay_when_streaming(world, settings: Settings) -> None:
    """Users pay once the streamer has pinned its cursor for the distribution account."""
    from anchor_dramatiq.demo.wallets import pay_withdrawals
    from anchor_dramatiq.models import Cursor

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not Cursor.get_or_none(
            Cursor.account == world.distribution.public_key):
        time.sleep(0.1)
    pay_withdrawals(world, settings)


def _watch(world, timeout: float, echo) -> bool:
    """Live progress until every transaction is terminal or ``timeout`` passes."""
    from anchor_dramatiq.demo.report import progress_line

    interactive = sys.stdout.isatty()
    deadline = time.monotonic() + timeout
    last_printed = 0.0
    while True:
        line, done = progress_line(world)
        now = time.monotonic()
        if interactive:
            click.echo("\r\x1b[2K" + line, nl=False)
        elif done or now - last_printed >= 2:
            echo(line)
            last_printed = now
        if done or now > deadline:
            if interactive:
                click.echo()
            return done
        time.sleep(0.25)
