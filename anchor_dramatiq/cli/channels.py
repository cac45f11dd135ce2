"""``channels create N`` / ``channels list``: the channel-account pool for parallel submission.

``create`` funds new accounts from a funding account whose seed is read from a file or
standard input (never the command line) -- typically an asset's distribution account.
"""

from __future__ import annotations

from typing import TextIO

import click

from anchor_dramatiq.cli.assets import read_seed
from anchor_dramatiq.crypto import SeedDecryptionError
from anchor_dramatiq.db import utcnow
from anchor_dramatiq.errors import InvalidSeedError
from anchor_dramatiq.models import Asset, Channel
from anchor_dramatiq.stellar import channels as pool
from anchor_dramatiq.stellar.horizon import horizon_server
from anchor_dramatiq.stellar.keys import distribution_keypair, keypair_from_seed


@click.group()
def channels() -> None:
    """Channel accounts (transaction sources leased per submission)."""


@channels.command("create")
@click.argument("count", type=click.IntRange(1, 1000))
@click.option("--asset", "asset_code", help="Fund from this asset's distribution account.")
@click.option("--seed-file", type=click.File("r"), help="Fund from this seed ('-' = stdin).")
@click.option("--starting-balance", default="2", show_default=True, help="XLM per channel account.")
def create(count: int, asset_code: str | None, seed_file: TextIO | None, starting_balance: str) -> None:
    """Create COUNT funded channel accounts and register them."""
    from anchor_dramatiq.cli import load

    settings = load("secret_key")
    if asset_code:
        asset = Asset.get_or_none(Asset.code == asset_code)
        if asset is None:
            raise click.BadParameter(f"no asset {asset_code}", param_hint="--asset")
        try:
            funder = distribution_keypair(asset, settings.key())
        except (InvalidSeedError, SeedDecryptionError) as exc:  # neither message holds the seed
            raise click.ClickException(str(exc)) from None
    elif seed_file is not None:
        funder = keypair_from_seed(read_seed(seed_file), "--seed-file")
    else:
        raise click.UsageError("give --asset CODE or --seed-file FILE to fund the channels from")
    server = horizon_server(settings)
    try:
        keys = pool.create(server, funder, count, settings, starting_balance)
    finally:
        server.close()
    for key in keys:
        click.echo(key)
    click.echo(f"{len(keys)} channel accounts created and registered", err=True)


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
