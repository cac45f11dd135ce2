"""Bad-input corpus, Horizon answering garbage: nothing is stored, paid or skipped.

A tiny local HTTP server answers every request with junk (an HTML error page with status
200, truncated JSON, JSON of the wrong shape, a bare 502). The deposit payer, the reconcile
sweep and the streamer are pointed at it: each fails loudly or retries, writes no
submission, payment or cursor it cannot justify, and leaves its work where a sweep finds it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
import uuid
from decimal import Decimal

import pytest
from dramatiq.brokers.stub import StubBroker
from stellar_sdk import Keypair
from support.factories import make_asset, make_withdrawal

from anchor_dramatiq import config
from anchor_dramatiq.crypto import Secret, SeedDecryptionError
from anchor_dramatiq.db import utcnow
from anchor_dramatiq.deposits import resume_deposits, submit_deposit
from anchor_dramatiq.models import Cursor, Payment, Submission, Transaction
from anchor_dramatiq.streaming.supervisor import Streamer


def ready_deposit(asset) -> Transaction:
    destination = Keypair.random().public_key
    return Transaction.create(id=uuid.uuid4(), kind="deposit", protocol="sep24", status="pending_anchor",
                              submission_status="ready", asset=asset, amount_in=Decimal("5"),
                              amount_fee=Decimal(0), amount_out=Decimal("5"), queued_at=utcnow(),
                              stellar_account=destination, to_address=destination)


@pytest.fixture
def on_junk(db: str, junk_horizon):
    config.configure(config.get_settings().replace(horizon_url=junk_horizon.url, horizon_timeout=2.0))
    return junk_horizon


def test_deposit_against_a_garbage_horizon_stores_nothing_and_is_resumed(on_junk, broker) -> None:
    asset, _ = make_asset()
    deposit = ready_deposit(asset)
    with pytest.raises(Exception) as raised:  # noqa: B017 - whatever the junk makes stellar-sdk raise
        submit_deposit(deposit.id)
    assert not isinstance(raised.value, AssertionError)
    assert on_junk.requests, "Horizon was never asked"
    assert Submission.select().count() == 0  # nothing signed or stored from a junk account answer
    row = Transaction.get_by_id(deposit.id)
    assert row.status == "pending_anchor" and row.submission_status in ("ready", "processing")
    # Not lost: once its claim is stale, the resume sweep nudges it again.
    stale = utcnow() - dt.timedelta(seconds=config.get_settings().claim_timeout + 1)
    Transaction.update(queued_at=stale).where(Transaction.id == deposit.id).execute()
    broker.flush_all()
    assert resume_deposits() == 1
    assert broker.queues["stellar"].qsize() == 1


def test_reconcile_against_a_garbage_horizon_records_nothing(on_junk, broker, caplog) -> None:
    """The sweep fails, says so at ERROR with the cause, and the next tick is its retry."""
    import logging

    import actors.withdrawals

    caplog.set_level(logging.ERROR)
    asset, account = make_asset()
    waiting = make_withdrawal(asset, account, memo="r")
    actors.payments.reconcile_payments.fn()
    failures = [r for r in caplog.records
                if "reconcile_payments failed; the next tick runs it again" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None
    assert Payment.select().count() == 0
    assert Transaction.get_by_id(waiting.id).status == "pending_user_transfer_start"


def test_streamer_against_a_garbage_horizon_keeps_retrying_and_records_nothing(on_junk) -> None:
    asset, account = make_asset()
    streamer = Streamer(config.get_settings(), StubBroker(), accounts_refresh=0.5)
    loop = asyncio.new_event_loop()
    stop: list[asyncio.Event] = []

    async def main() -> None:
        stop.append(asyncio.Event())
        await streamer.run(stop[0])

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while len(on_junk.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(on_junk.requests) >= 2, "the streamer did not retry"
    assert thread.is_alive()
    loop.call_soon_threadsafe(stop[0].set)
    thread.join(30)
    assert not thread.is_alive(), "the streamer did not stop"
    assert Payment.select().count() == 0
    assert Cursor.get_or_none(Cursor.account == account) is None  # no made-up starting point


def test_wrong_secret_key_is_a_clear_error_and_pays_nothing(db: str, broker) -> None:
    asset, _ = make_asset()
    deposit = ready_deposit(asset)
    config.configure(config.get_settings().replace(secret_key=Secret("another-secret-key-0123456789")))
    with pytest.raises(SeedDecryptionError, match="ANCHOR_SECRET_KEY"):
        submit_deposit(deposit.id)
    assert Submission.select().count() == 0
    assert Transaction.get_by_id(deposit.id).status == "pending_anchor"
