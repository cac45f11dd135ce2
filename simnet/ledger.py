"""Ledger state: accounts, trustlines, data entries and claimable balances, with rollback.

Operations mutate entries through :class:`LedgerState`, which journals the first change to
each entry inside a transaction so a failed transaction can be undone exactly (core applies
all of a transaction's operations or none of them).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from stellar_sdk import xdr

BASE_RESERVE = 5_000_000  # 0.5 XLM, in stroops
AUTH_REQUIRED = 1
AUTH_REVOCABLE = 2
AUTH_IMMUTABLE = 4
AUTH_CLAWBACK_ENABLED = 8
ACCOUNT_FLAGS_MASK = 0xF

TL_AUTHORIZED = 1
TL_AUTHORIZED_TO_MAINTAIN_LIABILITIES = 2
TL_CLAWBACK_ENABLED = 4


@dataclass
class Trustline:
    """One trustline: balance and limit in stroops, core's TrustLineFlags."""

    balance: int
    limit: int
    flags: int
    last_modified_ledger: int

    @property
    def authorized(self) -> bool:
        return bool(self.flags & TL_AUTHORIZED)

    @property
    def authorized_to_maintain_liabilities(self) -> bool:
        return bool(self.flags & (TL_AUTHORIZED | TL_AUTHORIZED_TO_MAINTAIN_LIABILITIES))


@dataclass
class Account:
    """An account entry; native ``balance`` in stroops, ``signers`` maps strkey -> weight."""

    account_id: str
    balance: int
    seq: int
    last_modified_ledger: int
    last_modified_time: int
    seq_ledger: int = 0
    seq_time: int = 0
    subentries: int = 0
    num_sponsoring: int = 0
    flags: int = 0
    master_weight: int = 1
    low_threshold: int = 0
    med_threshold: int = 0
    high_threshold: int = 0
    home_domain: str = ""
    inflation_dest: str | None = None
    signers: dict[str, int] = field(default_factory=dict)
    data: dict[str, bytes] = field(default_factory=dict)
    trustlines: dict[str, Trustline] = field(default_factory=dict)

    def clone(self) -> Account:
        """A copy deep enough for the journal (entries are small; ``copy.copy`` is slower)."""
        twin = object.__new__(Account)
        twin.__dict__.update(self.__dict__)
        twin.signers = dict(self.signers)
        twin.data = dict(self.data)
        twin.trustlines = {k: _copy(v) for k, v in self.trustlines.items()}
        return twin


def _copy(line: Trustline) -> Trustline:
    twin = object.__new__(Trustline)
    twin.__dict__.update(line.__dict__)
    return twin


@dataclass
class ClaimableBalance:
    """A claimable balance; predicates are XDR with relative times already made absolute."""

    balance_id: str  # hex of the ClaimableBalanceID XDR, Horizon's ``id``
    asset: str
    amount: int
    claimants: list[tuple[str, xdr.ClaimPredicate]]
    sponsor: str
    last_modified_ledger: int
    last_modified_time: int
    clawback_enabled: bool = False


class LedgerState:
    """All entries, plus a journal that makes each transaction's operations atomic."""

    def __init__(self, base_reserve: int = BASE_RESERVE) -> None:
        self.base_reserve = base_reserve
        self.accounts: dict[str, Account] = {}
        self.balances: dict[str, ClaimableBalance] = {}
        self._journal: dict[tuple[str, str], Account | ClaimableBalance | None] | None = None

    # --- transactions -------------------------------------------------------------------

    def begin(self) -> None:
        """Start journaling changes (one transaction's operations)."""
        self._journal = {}

    def commit(self) -> None:
        """Keep the changes made since :meth:`begin`."""
        self._journal = None

    def rollback(self) -> None:
        """Undo every change made since :meth:`begin`."""
        journal, self._journal = self._journal or {}, None
        for (kind, key), original in journal.items():
            table = self.accounts if kind == "a" else self.balances
            if original is None:
                table.pop(key, None)
            else:
                table[key] = original

    def _remember(self, kind: str, key: str) -> None:
        if self._journal is None or (kind, key) in self._journal:
            return
        table = self.accounts if kind == "a" else self.balances
        current = table.get(key)
        if current is None:
            self._journal[(kind, key)] = None
        elif isinstance(current, Account):
            self._journal[(kind, key)] = current.clone()
        else:
            self._journal[(kind, key)] = copy.copy(current)

    # --- accounts -----------------------------------------------------------------------

    def account(self, account_id: str) -> Account | None:
        """Read-only access (do not mutate what this returns)."""
        return self.accounts.get(account_id)

    def mut(self, account_id: str) -> Account | None:
        """The account, journaled so that changes to it can be rolled back."""
        if account_id not in self.accounts:
            return None
        self._remember("a", account_id)
        return self.accounts[account_id]

    def add_account(self, account: Account) -> None:
        self._remember("a", account.account_id)
        self.accounts[account.account_id] = account

    def remove_account(self, account_id: str) -> None:
        self._remember("a", account_id)
        del self.accounts[account_id]

    def min_balance(self, account: Account) -> int:
        """Core's minimum balance: (2 + subentries + sponsoring) * base reserve."""
        return (2 + account.subentries + account.num_sponsoring) * self.base_reserve

    def available_native(self, account: Account) -> int:
        """Native stroops the account can spend without going below its reserve."""
        return account.balance - self.min_balance(account)

    # --- claimable balances -------------------------------------------------------------

    def add_balance(self, balance: ClaimableBalance) -> None:
        self._remember("b", balance.balance_id)
        self.balances[balance.balance_id] = balance

    def remove_balance(self, balance_id: str) -> None:
        self._remember("b", balance_id)
        del self.balances[balance_id]
