"""Polaris rails for the side by side runs; ``bench/polaris/anchor_rails.py`` is its twin for
anchor-dramatiq, so both systems get the same bank.

- Deposits: every pending deposit with an ``amount_expected`` is funded with exactly that
  amount (``amount_in``); the fee is left to the system (the asset's deposit fees).
- Payouts: each call takes ``BENCH_PAYOUT_SECONDS`` (default 0), records a bank reference
  and leaves the withdrawal ``pending_external``; the next poll finds it done.
"""

import os
import time

from polaris.integrations import RailsIntegration


class BenchRails(RailsIntegration):
    def poll_pending_deposits(self, pending_deposits, *args, **kwargs):
        funded = []
        for transaction in pending_deposits:
            if transaction.amount_expected is not None:
                transaction.amount_in = transaction.amount_expected
                transaction.save()  # Polaris refreshes the rows it gets back from the database
                funded.append(transaction)
        return funded

    def execute_outgoing_transaction(self, transaction, *args, **kwargs):
        time.sleep(float(os.environ.get("BENCH_PAYOUT_SECONDS", "0")))
        transaction.external_transaction_id = f"bank-{transaction.id.hex}"
        transaction.status = transaction.STATUS.pending_external
        transaction.save()

    def poll_outgoing_transactions(self, transactions, *args, **kwargs):
        return list(transactions)
