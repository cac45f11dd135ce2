"""A rails integration for the deposit tests: funds what a test says, counts ``after_deposit``."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Sequence

from anchor_dramatiq.integrations.sandbox import SandboxRails
from anchor_dramatiq.models import Transaction

PATH = "deposits.rails:DepositRails"


class DepositRails(SandboxRails):
    """``funded[id]`` = the fields the bank reports for that deposit (the row is returned with
    them set); ``after[id]`` = how many times ``after_deposit`` ran for it. Class attributes:
    the flow loads one instance per path."""

    funded: dict[uuid.UUID, dict] = {}
    after: Counter = Counter()
    _lock = threading.Lock()

    def poll_pending_deposits(self, transactions: Sequence[Transaction]) -> list[Transaction]:
        out = []
        for transaction in transactions:
            fields = type(self).funded.get(transaction.id)
            if fields is not None:
                for name, value in fields.items():
                    setattr(transaction, name, value)
                out.append(transaction)
        return out

    def after_deposit(self, transaction: Transaction) -> None:
        with type(self)._lock:
            type(self).after[transaction.id] += 1

    @classmethod
    def reset(cls) -> None:
        cls.funded.clear()
        cls.after.clear()
