"""anchor-dramatiq rails for the side by side runs: the twin of ``polaris_bench/rails.py``
(same funding, same payout delay ``BENCH_PAYOUT_SECONDS``, same references).

``ANCHOR_RAILS=anchor_rails:BenchRails`` with ``bench/polaris`` on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from anchor_dramatiq.integrations import RailsIntegration
from anchor_dramatiq.models import Transaction


class BenchRails(RailsIntegration):
    def poll_pending_deposits(self, transactions: Sequence[Transaction]) -> list[Transaction]:
        funded = []
        for transaction in transactions:
            if transaction.amount_expected is not None:
                transaction.amount_in = transaction.amount_expected
                funded.append(transaction)
        return funded

    def execute_outgoing_transaction(self, transaction: Transaction) -> None:
        time.sleep(float(os.environ.get("BENCH_PAYOUT_SECONDS", "0")))
        transaction.external_transaction_id = f"bank-{transaction.id.hex}"
        transaction.status = "pending_external"

    def poll_outgoing_transactions(self, transactions: Sequence[Transaction]) -> list[Transaction]:
        return list(transactions)
