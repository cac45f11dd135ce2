"""Keys: every keypair made from a stored or configured seed, without the seed ever leaking.

stellar-sdk's ``Keypair.from_secret`` puts the seed it rejects in its exception message
(``Invalid Ed25519 Secret Seed: S...``), so a seed one character short or with a trailing
newline would reach logs and tracebacks. :func:`keypair_from_seed` is the one place a seed
becomes a keypair; it raises :class:`InvalidSeedError` naming the seed's owner instead.

Decryption is cheap after the first call per stored value (the PBKDF2 key is cached in
:mod:`anchor_dramatiq.crypto`), so a seed is decrypted each time it signs and never kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stellar_sdk import Keypair

from anchor_dramatiq.crypto import Secret
from anchor_dramatiq.errors import InvalidSeedError

if TYPE_CHECKING:  # models import config, which validates seeds with this module
    from anchor_dramatiq.models import Asset, Channel

SEED_LENGTH = 56


def _parse(raw: str) -> Keypair | None:
    try:
        return Keypair.from_secret(raw)
    except Exception:  # whatever it is, the library's error may quote the seed: drop it here
        return None


def keypair_from_seed(seed: Secret, owner: str) -> Keypair:
    """The keypair of ``seed``, or :class:`InvalidSeedError` naming ``owner`` (never the seed).

    The error is raised outside the ``except`` block, so it has no ``__context__`` either.
    """
    keypair = _parse(seed.reveal())
    if keypair is None:
        raise InvalidSeedError(f"{owner} is not a Stellar secret seed "
                               f"({len(seed.reveal())} characters; a seed is S and {SEED_LENGTH - 1} more)")
    return keypair


def distribution_keypair(asset: Asset, secret_key: Secret) -> Keypair:
    """The keypair to sign with."""
    return keypair_from_seed(asset.distribution_secret(secret_key),
                             f"the distribution seed of asset {asset.asset_key}")


def distribution_account(asset: Asset, secret_key: Secret) -> str:
    """The asset's distribution account (G...)."""
    return distribution_keypair(asset, secret_key).public_key


def channel_keypair(channel: Channel, secret_key: Secret) -> Keypair:
    """A channel account's keypair, to sign as the transaction source."""
    return keypair_from_seed(channel.secret(secret_key), f"the seed of channel account {channel.public_key}")
