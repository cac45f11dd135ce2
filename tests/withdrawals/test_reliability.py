"""Real streamer and worker processes on PostgreSQL, RabbitMQ and simnet, with things breaking.

Each test pays withdrawals on simnet while something fails (the streamer SIGKILLed, a
stream dropped or stalled by simnet, RabbitMQ down, a worker SIGKILLed mid-payout) and
checks that every payment is recorded once, every withdrawal is matched once and its
payout called at most once.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import dramatiq
import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from stellar_sdk import TextMemo
from support.chain import Chain
from support.factories import make_withdrawal
from support.processes import Process, streamer_argv, workers_argv
from support.rails import calls
from support.waiting import wait_until

from anchor_dramatiq.models import Cursor, Payment, Payout, Transaction
from simnet import Simnet

pytestmark = [pytest.mark.timeout(180), pytest.mark.services]

N = 6


def setup_withdrawals(sim: Simnet, count: int = N) -> tuple[Chain, list[Transaction]]:
    chain = Chain(sim)
    asset = chain.register()
    return chain, [make_withdrawal(asset, chain.account, memo=f"w{i}") for i in range(count)]


def start_streaming(start: Callable[..., Process], env: dict[str, str], account: str) -> Process:
    streamer = start(streamer_argv(), env, "streamer")
    wait_until(lambda: Cursor.get_or_none(Cursor.account == account) is not None, 30,
               f"the streamer to pin its cursor:\n{streamer.log()[-3000:]}")
    return streamer


def pay_all(chain: Chain, withdrawals: list[Transaction], between: Callable[[int], None] | None = None
            ) -> None:
    for i, withdrawal in enumerate(withdrawals):
        chain.pay(str(10 + i), TextMemo(withdrawal.memo))
        if between:
            between(i)


def assert_each_paid_once(withdrawals: list[Transaction], rails_log: Path, timeout: float = 60) -> None:
    ids = {w.id for w in withdrawals}

    def done() -> bool:
        statuses = {t.status for t in Transaction.select().where(Transaction.id.in_(list(ids)))}
        return statuses == {"pending_external"}

    wait_until(done, timeout, "every withdrawal to be matched and paid out")
    payments = list(Payment.select())
    assert len(payments) == len(withdrawals)
    assert {p.outcome for p in payments} == {"matched"}
    assert sorted(p.transaction_id for p in payments) == sorted(ids)
    assert sorted(calls(rails_log)) == sorted(str(i) for i in ids)  # one payout call each
    for i, withdrawal in enumerate(sorted(withdrawals, key=lambda w: int(w.memo[1:]))):
        assert Transaction.get_by_id(withdrawal.id).amount_in == Decimal(10 + i)


def rails_log_of(env: dict[str, str]) -> Path:
    return Path(env["ANCHOR_TEST_RAILS_LOG"])


def test_streamer_sigkilled_and_restarted_mid_stream(sim: Simnet, process_env: dict[str, str],
                                                     start: Callable[..., Process]) -> None:
    chain, withdrawals = setup_withdrawals(sim)
    start(workers_argv(processes=1, threads=4), process_env, "workers")
    streamer = start_streaming(start, process_env, chain.account)
    restarted: list[Process] = []

    def kill_midway(i: int) -> None:
        if i == 1:
            wait_until(lambda: Payment.select().count() >= 1, 20, "a payment to be recorded")
            streamer.kill()
        if i == 3:
            restarted.append(start(streamer_argv(), process_env, "streamer"))

    pay_all(chain, withdrawals, kill_midway)
    assert_each_paid_once(withdrawals, rails_log_of(process_env))
    assert "streaming payments of" in restarted[0].log()


def test_dropped_and_stalled_streams(sim: Simnet, process_env: dict[str, str],
                                     start: Callable[..., Process]) -> None:
    chain, withdrawals = setup_withdrawals(sim)
    sim.add_fault("stream_drop", after_events=1, count=2)
    sim.add_fault("stream_stall", after_events=1, count=1)
    start(workers_argv(processes=1, threads=4), process_env, "workers")
    streamer = start_streaming(start, process_env, chain.account)
    pay_all(chain, withdrawals)
    assert_each_paid_once(withdrawals, rails_log_of(process_env))
    assert sim.faults() == []  # every fault fired
    assert "silent for" in streamer.log()  # the stall was detected and the stream reopened
    assert streamer.terminate() == 0  # SIGTERM: clean exit
    assert "cursor is saved" in streamer.log()


def test_rabbitmq_down_while_payments_arrive(sim: Simnet, rabbitmq, process_env: dict[str, str],
                                             start: Callable[..., Process]) -> None:
    chain, withdrawals = setup_withdrawals(sim)
    start(workers_argv(processes=1, threads=4), process_env, "workers")
    start_streaming(start, process_env, chain.account)
    rabbitmq.kill()
    try:
        pay_all(chain, withdrawals)
        wait_until(lambda: Payment.select().count() == N, 30, "payments recorded with the broker down")
        assert Payment.select().where(Payment.published_at.is_null()).count() == N
    finally:
        rabbitmq.start()
    assert_each_paid_once(withdrawals, rails_log_of(process_env), timeout=120)


@pytest.mark.long(seconds=35)
def test_worker_killed_during_payout_holds_it_for_a_person_and_never_pays_twice(
        sim: Simnet, broker_url: str, process_env: dict[str, str], start: Callable[..., Process]) -> None:
    chain, [withdrawal] = setup_withdrawals(sim, 1)
    Transaction.update(status="pending_anchor", amount_in=Decimal("10")).where(
        Transaction.id == withdrawal.id).execute()
    env = {**process_env, "ANCHOR_TEST_RAILS_SLEEP": "5"}
    rails_log = rails_log_of(env)
    broker = RabbitmqBroker(url=broker_url, confirm_delivery=True)
    try:
        workers = start(workers_argv(processes=1, threads=4), env, "workers")
        broker.enqueue(dramatiq.Message(queue_name="withdrawals", actor_name="execute_outgoing",
                                        args=(str(withdrawal.id),), kwargs={}, options={}))
        wait_until(lambda: len(calls(rails_log)) == 1, 30, "the payout call to start")
        claimed_at = time.monotonic()
        workers.kill()  # mid-call: the message is unacked, the claim is held
        # RabbitMQ redelivers execute_outgoing to the new worker
        start(workers_argv(processes=1, threads=4), env, "workers")
        time.sleep(6)
        assert calls(rails_log) == [str(withdrawal.id)]  # claim still held: no second call
        assert Transaction.get_by_id(withdrawal.id).status == "pending_anchor"
        # The lease (ANCHOR_CLAIM_TIMEOUT=30 s) expires; the sweep finds the call started and holds it.
        time.sleep(max(0.0, 31 - (time.monotonic() - claimed_at)))
        broker.enqueue(dramatiq.Message(queue_name="periodic", actor_name="execute_outgoing_transactions",
                                        args=(), kwargs={}, options={}))
        wait_until(lambda: Payout.get(Payout.transaction_id == withdrawal.id).state == "held", 30,
                   "the sweep to hold the payout")
        time.sleep(1)
        assert calls(rails_log) == [str(withdrawal.id)]  # never called again
        resolved = subprocess.run([sys.executable, "-m", "anchor_dramatiq.cli", "payouts", "resolve",
                                   str(withdrawal.id), "--paid"], env=env, capture_output=True, text=True,
                                  timeout=60)
        assert resolved.returncode == 0, resolved.stderr
        assert Transaction.get_by_id(withdrawal.id).status == "pending_external"
    finally:
        broker.close()
    assert calls(rails_log) == [str(withdrawal.id)]


def test_concurrent_duplicate_messages_call_the_rails_once(
        sim: Simnet, broker_url: str, process_env: dict[str, str], start: Callable[..., Process]) -> None:
    chain, [withdrawal] = setup_withdrawals(sim, 1)
    Transaction.update(status="pending_anchor", amount_in=Decimal("10")).where(
        Transaction.id == withdrawal.id).execute()
    env = {**process_env, "ANCHOR_TEST_RAILS_SLEEP": "2"}
    broker = RabbitmqBroker(url=broker_url, confirm_delivery=True)
    try:
        start(workers_argv(processes=1, threads=4), env, "workers")
        message = dramatiq.Message(queue_name="withdrawals", actor_name="execute_outgoing",
                                   args=(str(withdrawal.id),), kwargs={}, options={})
        threads = [threading.Thread(target=broker.enqueue, args=(message.copy(),)) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wait_until(lambda: Transaction.get_by_id(withdrawal.id).status == "pending_external", 30,
                   "the payout")
        time.sleep(1)
    finally:
        broker.close()
    assert calls(rails_log_of(env)) == [str(withdrawal.id)]
