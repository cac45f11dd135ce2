"""The watched accounts: every asset's distribution account, read from the database.

One asset whose stored seed does not decrypt or parse must not stop the others: it is left
out of the watched accounts and reported (by code and issuer, with a reason that never holds
the seed) so the streamer can log it, and ``status`` and the metrics can show it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from anchor_dramatiq.crypto import Secret, SeedDecryptionError
from anchor_dramatiq.errors import InvalidSeedError
from anchor_dramatiq.models import Asset
from anchor_dramatiq.stellar.keys import distribution_account


@dataclass
class AssetAccounts:
    """Each asset with a distribution seed: its account, or why its seed cannot be used."""

    accounts: dict[str, str] = field(default_factory=dict)  # "CODE:ISSUER" -> G...
    invalid: dict[str, str] = field(default_factory=dict)  # "CODE:ISSUER" -> reason

    def watched(self) -> list[str]:
        """Distinct accounts, sorted: two assets sharing one account give one stream."""
        return sorted(set(self.accounts.values()))


def asset_accounts(secret_key: Secret) -> AssetAccounts:
    """Every asset that has a distribution seed, sorted into usable and invalid."""
    found = AssetAccounts()
    for asset in Asset.select().where(Asset.distribution_seed.is_null(False)).order_by(Asset.id):
        if not asset.distribution_seed:
            continue
        try:
            found.accounts[asset.asset_key] = distribution_account(asset, secret_key)
        except (InvalidSeedError, SeedDecryptionError) as exc:  # neither message holds the seed
            found.invalid[asset.asset_key] = str(exc)
    return found


def watched_accounts(secret_key: Secret) -> list[str]:
    """Distinct distribution accounts of the assets whose seed can be used, sorted.

    Two assets sharing one account give one entry, so one stream (Polaris opened two).
    Assets with an invalid seed are left out (see :func:`asset_accounts`).
    """
    return asset_accounts(secret_key).watched()
