"""Sandbox rails for the demo and tests: deposits are funded and payouts complete after delays.

No money moves off-chain; everything else (claims, Stellar payments, matching) is real.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from decimal import Decimal

from anchor_dramatiq.db import utcnow
from anchor_dramatiq.integrations import RailsIntegration
from anchor_dramatiq.models import Transaction
from anchor_dramatiq.vocabulary import TransactionStatus


class SandboxRails(RailsIntegration):
    """A bank that says yes: funded ``funding_delay`` s after start, paid out ``payout_delay`` s
    after execution; each payout call takes ``call_delay`` s (set it above
    ``ANCHOR_CLAIM_TIMEOUT`` to exercise a call that outlasts its claim). Class attributes, so
    a subclass (or the demo) can change them. No money moves, so a repeated call with the
    same key is harmless: its payouts are declared idempotent."""

    funding_delay: float = 0.0
    payout_delay: float = 2.0
    call_delay: float = 0.0
    payouts_idempotent = True

    def poll_pending_deposits(self, transactions: Sequence[Transaction]) -> list[Transaction]:
        cutoff = utcnow() - dt.timedelta(seconds=self.funding_delay)
        ready = []
        for transaction in transactions:
            if transaction.started_at <= cutoff and transaction.amount_expected is not None:
                transaction.amount_in = transaction.amount_expected
                ready.append(transaction)
        return ready

    def execute_outgoing_transaction(self, transaction: Transaction) -> None:
        time.sleep(self.call_delay)
        transaction.amount_fee = transaction.amount_fee or Decimal(0)  # type: ignore[assignment]
        transaction.amount_out = transaction.amount_in - transaction.amount_fee
        # The sandbox bank's reference records when the payout was sent.
        sent_at = int(utcnow().timestamp())
        transaction.external_transaction_id = f"sandbox-{transaction.id.hex[:16]}-{sent_at}"
        transaction.status = TransactionStatus.PENDING_EXTERNAL

    def poll_outgoing_transactions(self, transactions: Sequence[Transaction]) -> list[Transaction]:
        cutoff = utcnow().timestamp() - self.payout_delay
        return [t for t in transactions if _sent_at(t) <= cutoff]


def _sent_at(transaction: Transaction) -> float:
    """When the sandbox sent the payout; a reference it did not write counts as long ago."""
    reference = transaction.external_transaction_id or ""
    stamp = reference.rsplit("-", 1)[-1]
    return float(stamp) if reference.startswith("sandbox-") and stamp.isdigit() else 0.0
