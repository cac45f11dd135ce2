"""Real ``dramatiq actors`` processes on RabbitMQ and PostgreSQL, SIGKILLed mid-payment.

The worker kills itself (``ANCHOR_TEST_CRASH_AT``) right after an envelope is stored, and
in a second round right after it is submitted; the test then kills what is left of the
worker group and starts a fresh one. Every deposit must end completed, each destination
holding exactly its amount from exactly one payment.
"""

from __future__ import annotations

import os
from decimal import Decimal

import dramatiq
import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from support.processes import Process, workers_argv
from support.queues import purge_queues
from support.secret import TEST_SECRET_KEY
from support.waiting import wait_until

from anchor_dramatiq.models import Submission, Transaction
from anchor_dramatiq.queues import ActorName, Queue


def send(broker_url: str, transaction_ids: list) -> None:
    broker = RabbitmqBroker(url=broker_url, confirm_delivery=True)
    try:
        broker.declare_queue(Queue.STELLAR)
        for transaction_id in transaction_ids:
            broker.enqueue(dramatiq.Message(queue_name=Queue.STELLAR, actor_name=ActorName.SUBMIT_DEPOSIT,
                                            args=(str(transaction_id),), kwargs={}, options={}))
    finally:
        broker.close()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_kill_9_after_store_and_after_submit(anchor, db_url, broker_url, tmp_path):
    purge_queues(broker_url)
    env = {**os.environ, "ANCHOR_SECRET_KEY": TEST_SECRET_KEY, "ANCHOR_DATABASE_URL": db_url,
           "ANCHOR_BROKER_URL": broker_url, "ANCHOR_HORIZON_URL": anchor.sim.url,
           "ANCHOR_NETWORK_PASSPHRASE": anchor.settings.network_passphrase,
           "ANCHOR_HORIZON_TIMEOUT": "2", "ANCHOR_CLAIM_TIMEOUT": "30"}
    processes: list[Process] = []

    def start(crash_at: str | None) -> Process:
        run_env = dict(env)
        if crash_at:
            run_env["ANCHOR_TEST_CRASH_AT"] = crash_at
        process = Process(workers_argv(1, 2), run_env, tmp_path / f"worker{len(processes)}.log")
        processes.append(process)
        return process

    rounds = []
    try:
        for point in ("stored", "submitted"):
            marker = tmp_path / f"crashed-{point}"
            wallets = [anchor.wallet() for _ in range(3)]
            deposits = [anchor.deposit(w.public_key, f"{i + 1}.5") for i, w in enumerate(wallets)]
            rounds.append((wallets, deposits))
            worker = start(f"{point}:{marker}")
            send(broker_url, [deposits[0].id])
            wait_until(marker.exists, 60, f"the worker to crash after the envelope is {point}")
            worker.kill()
            # One envelope stored for the three deposits (a batch), none completed yet.
            assert Submission.select().count() == len(rounds)
            assert not any(Transaction.get_by_id(d.id).status == "completed" for d in deposits)
            start(None)
            wait_until(lambda ds=deposits: all(Transaction.get_by_id(d.id).status == "completed"
                                               for d in ds), 60, "all deposits completed after the restart")
            processes[-1].kill()
    finally:
        for process in processes:
            process.kill()
    for wallets, deposits in rounds:
        for i, (wallet, deposit) in enumerate(zip(wallets, deposits, strict=True)):
            assert Transaction.get_by_id(deposit.id).status == "completed"
            assert anchor.balance(wallet.public_key) == Decimal(f"{i + 1}.5")
            assert len(anchor.payments_to(wallet.public_key)) == 1
    assert Submission.select().where(Submission.state == "succeeded").count() == 2
