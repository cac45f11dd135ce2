"""Keys: the distribution account of an asset, derived from its encrypted seed.

Decryption is cheap after the first call per stored value (the PBKDF2 key is cached in
:mod:`anchor_dramatiq.crypto`), so a seed is decrypted each time it signs and never kept.
"""

from __future__ import annotations

from stellar_sdk import Keypair

from anchor_dramatiq.crypto import Secret
from anchor_dramatiq.models import Asset


def distribution_keypair(asset: Asset, secret_key: Secret) -> Keypair:
    """The keypair to sign with."""
    return Keypair.from_secret(asset.distribution_secret(secret_key).reveal())


def distribution_account(asset: Asset, secret_key: Secret) -> str:
    """The asset's distribution account (G...)."""
    return distribution_keypair(asset, secret_key).public_key
