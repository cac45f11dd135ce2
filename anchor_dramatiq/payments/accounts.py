"""The watched accounts: every asset's distribution account, read from the database."""

from __future__ import annotations

from anchor_dramatiq.crypto import Secret
from anchor_dramatiq.models import Asset
from anchor_dramatiq.stellar.keys import distribution_account


def watched_accounts(secret_key: Secret) -> list[str]:
    """Distinct distribution accounts of the assets that have a distribution seed, sorted.

    Two assets sharing one account give one entry, so one stream (Polaris opened two).
    """
    accounts = {distribution_account(asset, secret_key)
                for asset in Asset.select().where(Asset.distribution_seed.is_null(False))
                if asset.distribution_seed}
    return sorted(accounts)
