"""Destination accounts: does it exist, does it trust the asset? One Horizon call per account.

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from stellar_sdk import MuxedAccount, Server

from anchor_dramatiq.errors import NoAnswer
from anchor_dramatiq.models import Asset, Transaction
from anchor_dramatiq.stellar.answers import read

LOOKUP_CONCURRENCY = 8  # parallel account lookups per batch (a batch has up to 100 deposits)


@dataclass(frozen=True)
class Destination:
    account: str
    exists: bool
    trusts: bool


@functools.lru_cache(maxsize=65536)
def account_of(address: str) -> str:
    """The G account behind a G or M address (remembered: a batch asks for each many times)."""
    return MuxedAccount.from_account(address).account_id


def has_trustline(account_json: dict, asset: Asset) -> bool:
    for balance in account_json.get("balances", []):
        if balance.get("asset_code") == asset.code and balance.get("asset_issuer") == asset.issuer:
            return balance.get("is_authorized", True) is not False
    return False


# Accounts Horizon showed recently, per process: a burst pays the same wallets again and
# again. Only a positive answer is served from memory, briefly: the account exists and
# trusts the asset with an authorized trustline, so the deposit is paid by a payment. Any
# other answer (missing, no trustline, not authorized) is read afresh every time, so a
# remembered answer can never cause an account creation, a claimable balance or
# pending_trust. A remembered positive answer that went stale (trustline removed or
# deauthorized, account merged) makes the payment fail in the ledger (op_no_trust,
# op_not_authorized, op_no_destination): nothing of that transaction applies, the answer is
# forgotten and the deposit comes back through this check.
FOUND_TTL_S = 10.0
_found: dict[tuple[str, str], tuple[float, dict]] = {}
_found_lock = threading.Lock()


def _load_account(server: Server, account: str, assets: list[Asset]) -> dict | None:
    """The account, or None when Horizon itself (with its ``Latest-Ledger``) says it does not
    exist. A node behind may still say so of an account that exists: ``op_already_exists``
    then sends the deposit back through this check."""
    key = (server.horizon_url, account)
    with _found_lock:
        cached = _found.get(key)
    if (cached and time.monotonic() - cached[0] < FOUND_TTL_S
            and all(has_trustline(cached[1], asset) for asset in assets)):
        return cached[1]
    answer = read(server, f"/accounts/{account}")
    if answer.found:
        with _found_lock:
            if len(_found) > 100_000:
                _found.clear()
            _found[key] = (time.monotonic(), answer.body or {})
        return answer.body
    if answer.missing:
        return None
    raise NoAnswer(f"account {account}: {answer.summary}")


def forget(address: str) -> None:
    """Drop what was remembered of this account: an operation to it just failed."""
    account = account_of(address)
    with _found_lock:
        for key in [k for k in _found if k[1] == account]:
            del _found[key]


def load_destinations(server: Server, transactions: Iterable[Transaction]) -> dict[str, Destination]:
    """G account -> what Horizon says, loading each distinct account once, several at a time.

    Raises :class:`NoAnswer` (anything but an account or Horizon's own 404) for the caller to
    retry later.
    """
    transactions = list(transactions)
    assets: dict[str, dict[int, Asset]] = {}
    for transaction in transactions:
        assets.setdefault(account_of(transaction.to_address), {})[transaction.asset_id] = transaction.asset
    distinct = list(assets)
    with ThreadPoolExecutor(max_workers=min(LOOKUP_CONCURRENCY, max(len(distinct), 1))) as pool:
        accounts = dict(zip(distinct, pool.map(
            lambda account: _load_account(server, account, list(assets[account].values())), distinct),
            strict=True))
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
