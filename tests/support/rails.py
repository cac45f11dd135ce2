"""Rails for the tests: count every payout call in a file, optionally slowly, so a test can kill
the worker in the middle of one and count calls across processes."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from anchor_dramatiq.integrations import PayoutStatus, RailsIntegration
from anchor_dramatiq.models import Transaction


class CountingRails(RailsIntegration):
    """``ANCHOR_TEST_RAILS_LOG``: a file that gets one line per call (``<id> <pid>``).
    ``ANCHOR_TEST_RAILS_SLEEP``: seconds each call takes before it returns."""

    def execute_outgoing_transaction(self, transaction: Transaction) -> None:
        log = Path(os.environ["ANCHOR_TEST_RAILS_LOG"])
        with log.open("a") as out:
            out.write(f"{transaction.id} {os.getpid()}\n")
        time.sleep(float(os.environ.get("ANCHOR_TEST_RAILS_SLEEP", "0")))
        transaction.external_transaction_id = f"bank-{transaction.id.hex[:8]}"
        transaction.status = "pending_external"

    def poll_outgoing_transactions(self, transactions: Sequence[Transaction]) -> list[Transaction]:
        return list(transactions)


def counting_rails_env(workdir: Path) -> dict[str, str]:
    """The settings that make a deployed process pay out through ``CountingRails``."""
    return {"ANCHOR_RAILS": "support.rails:CountingRails",
            "ANCHOR_TEST_RAILS_LOG": str(workdir / "rails.log")}


def calls(log: Path) -> list[str]:
    """Transaction ids, one per payout call recorded."""
    return [line.split()[0] for line in log.read_text().splitlines()] if log.exists() else []


class SettlingCountingRails(CountingRails):
    """Counting rails whose bank can be asked: a payout is made when its call was logged, so a
    held payout settles itself (``payout_status``) instead of waiting for a person."""

    def payout_status(self, transaction: Transaction, key: str) -> PayoutStatus:
        return PayoutStatus.PAID if key in calls(Path(os.environ["ANCHOR_TEST_RAILS_LOG"])) \
            else PayoutStatus.NOT_PAID
