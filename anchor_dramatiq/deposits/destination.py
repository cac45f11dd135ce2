"""Destination accounts: does it exist, does it trust the asset? Read in batches through the
network interface (Horizon: parallel reads; RPC: ``getLedgerEntries`` of account and
trustline keys together).

The answer decides the operations that pay a deposit, as Polaris does: a payment; a
claimable balance when there is no trustline and the wallet supports them; account
creation when the account is missing (the deposit then waits in ``pending_trust`` unless a
claimable balance can be made in the same transaction).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from stellar_sdk import MuxedAccount

from anchor_dramatiq.errors import NoAnswer
from anchor_dramatiq.models import Asset, Transaction
from anchor_dramatiq.network.answers import AccountMissing, AccountState, NoReply
from anchor_dramatiq.network.interface import AssetKey, Network


@dataclass(frozen=True)
class Destination:
    account: str
    exists: bool
    trusts: bool


@functools.lru_cache(maxsize=65536)
def account_of(address: str) -> str:
    """The G account behind a G or M address (remembered: a batch asks for each many times)."""
    return MuxedAccount.from_account(address).account_id


def has_trustline(account: AccountState, asset: Asset) -> bool:
    """An authorized trustline to the asset (Polaris's check)."""
    line = account.trustline(asset.code, asset.issuer)
    return line is not None and line.authorized


# Accounts the network showed recently, per process: a burst pays the same wallets again and
# again. Only a positive answer is served from memory, briefly: the account exists and
# trusts the asset with an authorized trustline, so the deposit is paid by a payment. Any
# other answer (missing, no trustline, not authorized) is read afresh every time, so a
# remembered answer can never cause an account creation, a claimable balance or
# pending_trust. A remembered positive answer that went stale (trustline removed or
# deauthorized, account merged) makes the payment fail in the ledger (op_no_trust,
# op_not_authorized, op_no_destination): nothing of that transaction applies, the answer is
# forgotten and the deposit comes back through this check.
FOUND_TTL_S = 10.0
_found: dict[tuple[str, str], tuple[float, AccountState]] = {}
_found_lock = threading.Lock()


def _remembered(network: Network, account: str, assets: list[Asset]) -> AccountState | None:
    with _found_lock:
        cached = _found.get((network.endpoint, account))
    if (cached and time.monotonic() - cached[0] < FOUND_TTL_S
            and all(has_trustline(cached[1], asset) for asset in assets)):
        return cached[1]
    return None


def _load_accounts(network: Network, wanted: dict[str, list[Asset]]) -> dict[str, AccountState | None]:
    """Each account, or None when the node (saying how far it has ingested) does not know it.
    A node behind may still say so of an account that exists: ``op_already_exists`` then
    sends the deposit back through this check. Raises :class:`NoAnswer` for any other answer."""
    out: dict[str, AccountState | None] = {}
    for account, assets in wanted.items():
        remembered = _remembered(network, account, assets)
        if remembered is not None:
            out[account] = remembered
    unread = [account for account in wanted if account not in out]
    if not unread:
        return out
    keys: list[AssetKey] = list(dict.fromkeys((a.code, a.issuer) for account in unread
                                              for a in wanted[account]))
    for account, answer in network.accounts(unread, keys).items():
        if isinstance(answer, NoReply):
            raise NoAnswer(answer.summary)
        if isinstance(answer, AccountMissing):
            out[account] = None
            continue
        out[account] = answer
        with _found_lock:
            if len(_found) > 100_000:
                _found.clear()
            _found[(network.endpoint, account)] = (time.monotonic(), answer)
    return out


def forget(address: str) -> None:
    """Drop what was remembered of this account: an operation to it just failed."""
    account = account_of(address)
    with _found_lock:
        for key in [k for k in _found if k[1] == account]:
            del _found[key]


def load_destinations(network: Network, transactions: Iterable[Transaction]) -> dict[str, Destination]:
    """G account -> what the network says, reading each distinct account once.

    Raises :class:`NoAnswer` (anything but an account or the node's own "not found") for the
    caller to retry later.
    """
    transactions = list(transactions)
    assets: dict[str, dict[int, Asset]] = {}
    for transaction in transactions:
        assets.setdefault(account_of(transaction.to_address), {})[transaction.asset_id] = transaction.asset
    accounts = _load_accounts(network, {account: list(by_id.values()) for account, by_id in assets.items()})
    out: dict[str, Destination] = {}
    for transaction in transactions:
        account = account_of(transaction.to_address)
        data = accounts[account]
        key = f"{account}|{transaction.asset_id}"
        out[key] = Destination(account, data is not None,
                               data is not None and has_trustline(data, transaction.asset))
    return out


def destination_key(transaction: Transaction) -> str:
    return f"{account_of(transaction.to_address)}|{transaction.asset_id}"
