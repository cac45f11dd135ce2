"""PostgreSQL crashes (``pg_ctl -m immediate``) right after the bank accepted a payout: the
rails are called exactly once, the payout is held with a reason, and ``payout_status`` settles
it once the database is back. A private cluster, so no other test sees the crash."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import peewee
import pytest
from support.database import migrated
from support.services import PostgresServer

from anchor_dramatiq.config import get_settings
from anchor_dramatiq.db import database, utcnow
from anchor_dramatiq.integrations import PayoutStatus, RailsIntegration
from anchor_dramatiq.models import Lease, Payout, Transaction
from anchor_dramatiq.withdrawals import execute
from anchor_dramatiq.withdrawals.resolve import settle_held

from .test_execute import paid

pytestmark = pytest.mark.services


@pytest.fixture
def crashable() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        with migrated(server.create_database()):
            yield server
    finally:
        server.cleanup()


class CrashingBank(RailsIntegration):
    """Accepts the payout, then the anchor's database crashes before the result is saved."""

    def __init__(self, server: PostgresServer) -> None:
        self.server = server
        self.paid: list[str] = []

    def execute_outgoing_transaction(self, transaction: Transaction, idempotency_key: str) -> None:
        self.paid.append(idempotency_key)
        transaction.external_transaction_id = "bank-ref-1"
        transaction.status = "pending_external"
        self.server.stop(mode="immediate")

    def payout_status(self, transaction: Transaction, key: str) -> PayoutStatus:
        return PayoutStatus.PAID if key in self.paid else PayoutStatus.NOT_PAID


def reconnect() -> None:
    try:
        database.close()
    except peewee.PeeweeException:
        pass
    database.connect(reuse_if_open=True)


def test_database_crash_after_the_bank_call_holds_then_payout_status_settles(
        crashable: PostgresServer) -> None:
    transaction = paid()
    bank = CrashingBank(crashable)
    with pytest.raises(peewee.PeeweeException):  # nothing can be written: not even the hold
        execute.execute_outgoing(transaction.id, bank, get_settings())
    crashable.start()
    reconnect()
    assert Payout.get(Payout.transaction_id == transaction.id).state == "started"  # committed before the call
    assert execute.execute_outgoing(transaction.id, bank, get_settings()) == "held"  # its lease is live
    Lease.update(expires_at=utcnow() - dt.timedelta(seconds=1)).execute()  # ANCHOR_CLAIM_TIMEOUT passes
    assert execute.execute_outgoing(transaction.id, bank, get_settings()) == "payout_held"
    held = Payout.get(Payout.transaction_id == transaction.id)
    assert held.state == "held" and "before its result was saved" in held.status_message
    assert bank.paid == [str(transaction.id)]
    assert settle_held(bank)["paid"] == 1
    row = Transaction.get_by_id(transaction.id)
    assert (row.status, row.amount_out) == ("pending_external", Decimal("100"))
    assert bank.paid == [str(transaction.id)]
