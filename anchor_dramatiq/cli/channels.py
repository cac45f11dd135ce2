"""``channels create N`` / ``ensure`` / ``list``: the channel-account pool for parallel submission.

``create`` and ``ensure`` fund accounts from a funding account whose seed is read from a
file or standard input (never the command line) -- typically an asset's distribution
account. ``ensure`` makes the pool ``ANCHOR_CHANNEL_COUNT`` strong and tops up low ones.
"""

from __future__ import annotations

from typing import TextIO

import click
from stellar_sdk import Keypair

from anchor_dramatiq.cli.assets import read_seed
from anchor_dramatiq.crypto import SeedDecryptionError
from anchor_dramatiq.db import utcnow
from anchor_dramatiq.errors import InvalidSeedError
from anchor_dramatiq.models import Asset, Channel
from anchor_dramatiq.network.factory import network_for
from anchor_dramatiq.stellar import channels as pool
from anchor_dramatiq.stellar.keys import distribution_keypair, keypair_from_seed


@click.group()
def channels() -> None:
    """Channel accounts (transaction sources leased per submission)."""


def _funder(asset_code: str | None, seed_file: TextIO | None, settings) -> Keypair:
    if asset_code:
        asset = Asset.get_or_none(Asset.code == asset_code)
        if asset is None:
            raise click.BadParameter(f"no asset {asset_code}", param_hint="--asset")
        try:
            return distribution_keypair(asset, settings.key())
        except (InvalidSeedError, SeedDecryptionError) as exc:  # neither message holds the seed
            raise click.ClickException(str(exc)) from None
    if seed_file is not None:
        return keypair_from_seed(read_seed(seed_file), "--seed-file")
    raise click.UsageError("give --asset CODE or --seed-file FILE to fund the channels from")


@channels.command("create")
@click.argument("count", type=click.IntRange(1, 1000))
@click.option("--asset", "asset_code", help="Fund from this asset's distribution account.")
@click.option("--seed-file", type=click.File("r"), help="Fund from this seed ('-' = stdin).")
@click.option("--starting-balance", default="2", show_default=True, help="XLM per channel account.")
def create(count: int, asset_code: str | None, seed_file: TextIO | None, starting_balance: str) -> None:
    """Create COUNT funded channel accounts and register them."""
    from anchor_dramatiq.cli import load

    settings = load("secret_key")
    funder = _funder(asset_code, seed_file, settings)
    network = network_for(settings)
    try:
        keys = pool.create(network, funder, count, settings, starting_balance)
    finally:
        network.close()
    for key in keys:
        click.echo(key)
    click.echo(f"{len(keys)} channel accounts created and registered", err=True)


@channels.command("ensure")
@click.option("--count", type=click.IntRange(1, 1000), default=None,
              help="Channels to keep (default: ANCHOR_CHANNEL_COUNT).")
@click.option("--asset", "asset_code", help="Fund from this asset's distribution account.")
@click.option("--seed-file", type=click.File("r"), help="Fund from this seed ('-' = stdin).")
@click.option("--starting-balance", default="2", show_default=True,
              help="XLM a new channel gets, and what a low one is topped up to.")
@click.option("--minimum-balance", default="1", show_default=True,
              help="XLM below which a channel is topped up (channels pay their transactions' fees).")
def ensure(count: int | None, asset_code: str | None, seed_file: TextIO | None, starting_balance: str,
           minimum_balance: str) -> None:
    """Create the missing channel accounts and top up the low ones (idempotent)."""
    from anchor_dramatiq.cli import load

    settings = load("secret_key")
    wanted = count or settings.channel_count
    if wanted < 1:
        raise click.UsageError("set ANCHOR_CHANNEL_COUNT or give --count (see docs/operations.md, "
                               "channel sizing)")
    funder = _funder(asset_code, seed_file, settings)
    network = network_for(settings)
    try:
        created, topped = pool.ensure(network, funder, wanted, settings, starting_balance, minimum_balance)
    finally:
        network.close()
    for key in created:
        click.echo(f"created {key}")
    for key in topped:
        click.echo(f"topped up {key}")
    click.echo(f"{Channel.select().count()} channel accounts registered ({len(created)} created, "
               f"{len(topped)} topped up)", err=True)


@channels.command("list")
def list_channels() -> None:
    """Registered channel accounts and who holds each lease."""
    from anchor_dramatiq.cli import load

    load()
    now = utcnow()
    for channel in Channel.select().order_by(Channel.created_at):
        held = channel.lease_owner and channel.lease_expires_at and channel.lease_expires_at > now
        state = (f"leased by {channel.lease_owner} until {channel.lease_expires_at:%H:%M:%S}"
                 if held else "free")
        click.echo(f"{channel.public_key}  {state}")
