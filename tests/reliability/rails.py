"""Rails integrations for the reliability tests.

``JunkDepositRails`` reports funded deposits the way a buggy bank integration might (its
``report`` class attribute rewrites each row it returns). ``ChaosRails`` is the sandbox
bank (deposits funded at once, payouts complete on the next poll) that also counts every
payout call in ``ANCHOR_TEST_RAILS_LOG`` and can be asked about one (``payout_status``), as the
withdrawal tests' settling rails do, and
misbehaves on request of the chaos run:

- ``ANCHOR_TEST_RAILS_SLOW_EVERY`` / ``ANCHOR_TEST_RAILS_SLOW_SECONDS``: every Nth payout call
  (counted across processes in the log) takes that long after the bank acted — longer than
  the claim, so a second, concurrent call would be made if leases did not hold.
- ``ANCHOR_TEST_RAILS_CRASH_DIR``: when the chaos run has put a file ``armed`` there, the first
  call to rename it to ``crash-now`` (atomic: one process wins) waits ``CRASH_HOLD_S`` after the
  bank acted, while the chaos run crashes PostgreSQL: the result cannot be saved.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from support.rails import SettlingCountingRails, calls

from anchor_dramatiq.integrations.sandbox import SandboxRails
from anchor_dramatiq.models import Transaction

CRASH_HOLD_S = 4.0


def _slow_seconds() -> float:
    """How long this call lingers: every Nth call in the shared log is slow."""
    every = int(os.environ.get("ANCHOR_TEST_RAILS_SLOW_EVERY", "0"))
    if every <= 0:
        return 0.0
    made = len(calls(Path(os.environ["ANCHOR_TEST_RAILS_LOG"])))
    return float(os.environ.get("ANCHOR_TEST_RAILS_SLOW_SECONDS", "0")) if made % every == 0 else 0.0


def _crash_requested() -> bool:
    """True for the one call that claims the chaos run's ``armed`` file."""
    crash_dir = os.environ.get("ANCHOR_TEST_RAILS_CRASH_DIR")
    if not crash_dir:
        return False
    try:
        os.rename(Path(crash_dir) / "armed", Path(crash_dir) / "crash-now")
    except FileNotFoundError:
        return False
    return True


class JunkDepositRails(SandboxRails):
    report: Callable[[Transaction], Transaction | None] = staticmethod(lambda t: t)

    def poll_pending_deposits(self, transactions: Sequence[Transaction]) -> list:
        return [r for r in (type(self).report(t) for t in transactions) if r is not None]


class ChaosRails(SettlingCountingRails):
    """Funds every deposit with its ``amount_expected``; counts payouts; completes them when polled;
    answers ``payout_status`` from its call log, so payouts held by a crash settle themselves."""

    def poll_pending_deposits(self, transactions: Sequence[Transaction]) -> list[Transaction]:
        funded = []
        for transaction in transactions:
            if transaction.amount_expected is not None:
                transaction.amount_in = transaction.amount_expected
                funded.append(transaction)
        return funded

    def execute_outgoing_transaction(self, transaction: Transaction) -> None:
        super().execute_outgoing_transaction(transaction)
        time.sleep(_slow_seconds())
        if _crash_requested():
            time.sleep(CRASH_HOLD_S)
