"""``asset add`` / ``asset list``: register the anchor's assets and their distribution seeds.

A seed is read from a file or standard input, never from the command line, where it would
land in shell history and in ``ps`` output.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TextIO

import click
from stellar_sdk import StrKey

from anchor_dramatiq.crypto import Secret, SeedDecryptionError, encrypt_seed
from anchor_dramatiq.db import database, utcnow
from anchor_dramatiq.errors import InvalidSeedError
from anchor_dramatiq.models import Asset
from anchor_dramatiq.stellar.keys import distribution_account, keypair_from_seed

INVALID_SEED = "invalid seed"

ASSET_CODE = re.compile(r"^[A-Za-z0-9]{1,12}$")


def read_seed(source: TextIO) -> Secret:
    """The first line of ``source`` as a Stellar seed, or a clear error."""
    seed = Secret(source.readline().strip())
    try:
        keypair_from_seed(seed, "--seed-file")
    except InvalidSeedError:  # names no seed and chains nothing
        raise click.BadParameter("not a Stellar secret seed (S...)", param_hint="--seed-file") from None
    return seed


@click.group()
def asset() -> None:
    """Register and list the anchor's Stellar assets."""


@asset.command("add")
@click.option("--code", required=True, help="Asset code, 1-12 letters or digits")
@click.option("--issuer", required=True, help="Issuing account (G...)")
@click.option("--seed-file", type=click.File("r"), required=True,
              help="File holding the distribution account's seed, or - for standard input")
@click.option("--significant-decimals", type=click.IntRange(0, 7), default=2, show_default=True)
@click.option("--deposit-fee-fixed", type=Decimal, default=None)
@click.option("--deposit-fee-percent", type=Decimal, default=None)
@click.option("--withdrawal-fee-fixed", type=Decimal, default=None)
@click.option("--withdrawal-fee-percent", type=Decimal, default=None)
@click.option("--sep", "seps", multiple=True, type=click.Choice(["6", "24", "31"]),
              default=("24",), show_default=True, help="Enable a SEP (repeatable)")
@click.option("--update", is_flag=True, help="Replace the seed and fees of an existing asset")
def add(code: str, issuer: str, seed_file: TextIO, significant_decimals: int,
        deposit_fee_fixed: Decimal | None, deposit_fee_percent: Decimal | None,
        withdrawal_fee_fixed: Decimal | None, withdrawal_fee_percent: Decimal | None,
        seps: tuple[str, ...], update: bool) -> None:
    """Add an asset with its (encrypted) distribution seed."""
    from anchor_dramatiq.cli import load

    if not ASSET_CODE.match(code):
        raise click.BadParameter("1-12 letters or digits", param_hint="--code")
    if not StrKey.is_valid_ed25519_public_key(issuer):
        raise click.BadParameter("not a Stellar account id (G...)", param_hint="--issuer")
    seed = read_seed(seed_file)
    settings = load("secret_key")
    fields = {
        "distribution_seed": encrypt_seed(seed, settings.key()),
        "significant_decimals": significant_decimals,
        "deposit_fee_fixed": deposit_fee_fixed,
        "deposit_fee_percent": deposit_fee_percent,
        "withdrawal_fee_fixed": withdrawal_fee_fixed,
        "withdrawal_fee_percent": withdrawal_fee_percent,
        "sep6_enabled": "6" in seps,
        "sep24_enabled": "24" in seps,
        "sep31_enabled": "31" in seps,
        "modified": utcnow(),
    }
    with database.atomic():
        existing = Asset.get_or_none((Asset.code == code) & (Asset.issuer == issuer))
        if existing and not update:
            raise click.ClickException(f"asset {code}:{issuer} exists (use --update to replace it)")
        if existing:
            Asset.update(**fields).where(Asset.id == existing.id).execute()
            asset_id = existing.id
        else:
            asset_id = Asset.create(code=code, issuer=issuer, **fields).id
    distribution = keypair_from_seed(seed, "--seed-file").public_key
    click.echo(f"asset {asset_id} {code}:{issuer} distribution account {distribution}")


def shown_account(row: Asset, secret_key: Secret | None) -> str:
    """The distribution account to print: ``?`` without the key, ``invalid seed`` (reported on
    stderr) when the stored seed does not decrypt or parse, else the account."""
    if secret_key is None:
        return "?"
    if not row.distribution_seed:
        return "-"
    try:
        return distribution_account(row, secret_key)
    except (InvalidSeedError, SeedDecryptionError) as exc:  # neither message holds the seed
        click.echo(f"asset {row.asset_key}: {exc}; replace it with `anchor-dramatiq asset add "
                   f"--code {row.code} --issuer {row.issuer} --update --seed-file FILE`", err=True)
        return INVALID_SEED


@asset.command("list")
def list_assets() -> None:
    """List assets with their distribution accounts (never their seeds).

    An asset whose stored seed cannot be used is listed with ``distribution=invalid seed``
    and the reason on stderr; the exit status stays 0.
    """
    from anchor_dramatiq.cli import load

    settings = load()
    for row in Asset.select().order_by(Asset.id):
        account = shown_account(row, settings.secret_key)
        seps = ",".join(s for s in ("6", "24", "31") if getattr(row, f"sep{s}_enabled"))
        click.echo(f"{row.id}\t{row.code}\t{row.issuer}\tdistribution={account}\tseps={seps or '-'}")
