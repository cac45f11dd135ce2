"""Rails integrations for the reliability tests.

``JunkDepositRails`` reports funded deposits the way a buggy bank integration might (its
``report`` class attribute rewrites each row it returns). ``ChaosRails`` is the sandbox
bank (deposits funded at once, payouts complete on the next poll) that also counts every
payout call in ``ANCHOR_TEST_RAILS_LOG``, as the withdrawal tests' counting rails do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from withdrawals.rails import CountingRails

from anchor_dramatiq.integrations.sandbox import SandboxRails
from anchor_dramatiq.models import Transaction


class JunkDepositRails(SandboxRails):
    report: Callable[[Transaction], Transaction | None] = staticmethod(lambda t: t)

    def poll_pending_deposits(self, transactions: Sequence[Transaction]) -> list:
        return [r for r in (type(self).report(t) for t in transactions) if r is not None]


class ChaosRails(CountingRails):
    """Funds every deposit with its ``amount_expected``; counts payouts; completes them when polled."""

    def poll_pending_deposits(self, transactions: Sequence[Transaction]) -> list[Transaction]:
        funded = []
        for transaction in transactions:
            if transaction.amount_expected is not None:
                transaction.amount_in = transaction.amount_expected
                funded.append(transaction)
        return funded
