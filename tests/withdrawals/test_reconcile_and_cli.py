"""Reconcile records what no stream saw; the outbox re-sends; the CLI lists payments for a human."""

from __future__ import annotations

import json
import time

import dramatiq
from click.testing import CliRunner
from dramatiq.brokers.stub import StubBroker
from stellar_sdk import Server, TextMemo
from support.chain import Chain
from support.factories import make_asset, make_withdrawal, payment_record

from anchor_dramatiq import config
from anchor_dramatiq.cli import main
from anchor_dramatiq.models import Payment, Transaction
from anchor_dramatiq.payments import outbox
from anchor_dramatiq.payments.accounts import watched_accounts
from anchor_dramatiq.payments.process import process_payment
from anchor_dramatiq.payments.reconcile import reconcile
from anchor_dramatiq.queues import ActorName
from anchor_dramatiq.streaming.cursor import record_event
from simnet import Simnet


def test_reconcile_records_payments_no_stream_saw(sim: Simnet, db: str) -> None:
    chain = Chain(sim)
    asset = chain.register()
    first, second = (make_withdrawal(asset, chain.account, memo=m) for m in ("r1", "r2"))
    chain.pay("5", TextMemo("r1"))
    chain.pay("6", TextMemo("r2"))
    chain.pay("1", TextMemo("stranger"))
    with Server(sim.url) as server:
        accounts = watched_accounts(config.get_settings().secret_key)
        assert accounts == [chain.account]
        recorded = reconcile(server, accounts)
        assert len(recorded) == 3
        assert reconcile(server, accounts) == []  # already recorded: nothing new
    for operation_id in recorded:
        process_payment(operation_id)
    assert {Transaction.get_by_id(t.id).status for t in (first, second)} == {"pending_anchor"}
    assert Payment.get(Payment.memo == "stranger").outcome == "unmatched"


def test_reconcile_does_nothing_when_no_withdrawal_waits(sim: Simnet, db: str) -> None:
    chain = Chain(sim)
    chain.register()
    chain.pay("5", TextMemo("late"))
    with Server(sim.url) as server:
        assert reconcile(server, [chain.account]) == []


def test_outbox_sends_unpublished_and_lost_messages_once_confirmed(db: str) -> None:
    import datetime as dt

    asset, account = make_asset()
    records = [payment_record(account, asset, memo=f"o{i}") for i in range(3)]
    for record in records:
        record_event(record, account)
    broker = StubBroker()
    assert outbox.publish(broker, outbox.due()) == 3
    assert outbox.due() == []
    queued = broker.queues["payments"]
    assert queued.qsize() == 1  # one process_payments message carries the batch
    message = dramatiq.Message.decode(queued.get_nowait())
    assert message.actor_name == ActorName.PROCESS_PAYMENTS
    assert message.args == ([r["id"] for r in records],)
    time.sleep(0.01)
    assert len(outbox.due(stale_after=dt.timedelta(0))) == 3  # still pending: presumed lost


def test_payments_command_lists_what_needs_a_human(db: str) -> None:
    asset, account = make_asset()
    make_withdrawal(asset, account, memo="ok")
    for memo in ("ok", "nobody"):
        record = payment_record(account, asset, memo=memo)
        record_event(record, account)
        process_payment(record["id"])
    runner = CliRunner()
    result = runner.invoke(main, ["payments", "--outcome", "unmatched", "--json"])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert row["memo"] == "nobody" and "no transaction waits" in row["reason"]
    text = runner.invoke(main, ["payments", "--outcome", "rejected"])
    assert text.exit_code == 0 and "no rejected payments" in text.output
    assert "unmatched: no transaction waits" in runner.invoke(main, ["payments"]).output
