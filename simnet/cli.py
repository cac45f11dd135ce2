"""``anchor-dramatiq simnet``: run simnet standalone until SIGTERM or SIGINT, then exit 0
(``docker compose stop`` sends SIGTERM; without a handler Python would die of it, status 143)."""

from __future__ import annotations

import asyncio
import logging
import signal

import click

from .network import STANDALONE_PASSPHRASE
from .runner import start_server


async def _serve_forever(**options: object) -> None:
    server = await start_server(**options)
    click.echo(f"simnet listening on {server.url}")
    click.echo(f"network passphrase: {server.net.passphrase}")
    click.echo(f"root account: {server.net.root.public_key}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await server.close()


@click.command("simnet")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int,
              help="Port to listen on (0 picks a free one).")
@click.option("--ledger-interval", default=1.0, show_default=True, type=float,
              help="Seconds between ledger closes.")
@click.option("--ledger-capacity", default=1000, show_default=True, type=int,
              help="Maximum operations per ledger; more queued means surge pricing.")
@click.option("--passphrase", default=STANDALONE_PASSPHRASE, show_default=True,
              help="Network passphrase.")
@click.option("--submission-timeout", default=30.0, show_default=True, type=float,
              help="Seconds POST /transactions waits for its ledger before a 504.")
@click.option("--stream-timeout", default=55.0, show_default=True, type=float,
              help="Seconds before a stream is closed with byebye (Horizon's 55 s).")
@click.option("--rpc-retention-window", default=120_960, show_default=True, type=int,
              help="Ledgers of transactions and events Stellar RPC (/rpc) keeps.")
def simnet_command(host: str, port: int, ledger_interval: float, ledger_capacity: int,
                   passphrase: str, submission_timeout: float, stream_timeout: float,
                   rpc_retention_window: int) -> None:
    """Run simnet, a simulated Stellar network speaking Horizon and Stellar RPC (at /rpc;
    admin API at /_simnet/)."""
    if ledger_interval <= 0:
        raise click.BadParameter("must be greater than 0", param_hint="--ledger-interval")
    if ledger_capacity < 1:
        raise click.BadParameter("must be at least 1", param_hint="--ledger-capacity")
    if rpc_retention_window < 1:
        raise click.BadParameter("must be at least 1", param_hint="--rpc-retention-window")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(_serve_forever(host=host, port=port, ledger_interval=ledger_interval,
                               ledger_capacity=ledger_capacity, passphrase=passphrase,
                               submission_timeout=submission_timeout,
                               stream_timeout=stream_timeout,
                               rpc_retention_window=rpc_retention_window))
    click.echo("simnet stopped")
