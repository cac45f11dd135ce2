"""A deposit paid by a real worker process with DEBUG logging: no seed or secret in any line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import dramatiq
import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from support.anchor import anchor, sim  # noqa: F401 - the deposit tests' anchor on simnet
from support.paths import REPO
from support.processes import workers_argv
from support.queues import purge_queues
from support.secret import TEST_SECRET_KEY
from support.waiting import wait_until

from anchor_dramatiq.models import Transaction
from anchor_dramatiq.queues import ActorName, Queue

SEED = re.compile(r"(?<![A-Z2-7])S[A-Z2-7]{40,}")  # a seed or a damaged one; not inside a G... account


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_debug_logs_of_a_paid_deposit_hold_no_secret(anchor, db_url, broker_url, start, log_format,  # noqa: F811
                                                      tmp_path) -> None:
    purge_queues(broker_url)
    env = {**os.environ, "ANCHOR_SECRET_KEY": TEST_SECRET_KEY, "ANCHOR_DATABASE_URL": db_url,
           "ANCHOR_BROKER_URL": broker_url, "ANCHOR_HORIZON_URL": anchor.sim.url,
           "ANCHOR_NETWORK_PASSPHRASE": anchor.settings.network_passphrase,
           "ANCHOR_SIGNING_SEED": anchor.issuer.secret,
           "ANCHOR_LOG_LEVEL": "DEBUG", "ANCHOR_LOG_FORMAT": log_format}
    wallet = anchor.wallet()
    deposit = anchor.deposit(wallet.public_key, "12.5")
    workers = start(workers_argv(1, 2) + ["-v"], env, "workers")
    workers.wait_for_log("Worker process is ready for action.")
    rabbit = RabbitmqBroker(url=broker_url, confirm_delivery=True)
    try:
        rabbit.declare_queue(Queue.STELLAR)
        rabbit.enqueue(dramatiq.Message(queue_name=Queue.STELLAR, actor_name=ActorName.SUBMIT_DEPOSIT,
                                        args=(str(deposit.id),), kwargs={}, options={}))
    finally:
        rabbit.close()
    wait_until(lambda: Transaction.get_by_id(deposit.id).status == "completed", 30, "the deposit paid")
    status = subprocess.run([sys.executable, "-m", "anchor_dramatiq.cli", "status", "--no-horizon"],
                            env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert workers.terminate(timeout=30) == 0

    text = workers.log() + status.stdout + status.stderr
    assert str(deposit.id) in text or "submit_deposit" in text  # the flow did log at DEBUG
    secrets = [anchor.distribution.secret, anchor.issuer.secret, TEST_SECRET_KEY,
               "guest:guest@"]
    for line in text.splitlines():
        assert not SEED.search(line), line
        for secret in secrets:
            assert secret not in line, line
        if log_format == "json" and line.startswith("{"):
            json.loads(line)
    if log_format == "json":
        assert sum(line.startswith("{") for line in workers.log().splitlines()) > 10
