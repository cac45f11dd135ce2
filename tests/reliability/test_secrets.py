"""Secrets check: a whole flow at DEBUG, then every place a secret could leak is searched.

Deposits and withdrawals run through real workers, periodiq and the streamer with DEBUG
logging, channel accounts and a signing seed. Then the distribution seed, the channel
seeds, the signing seed and ANCHOR_SECRET_KEY are searched for in every log line (the
processes and the CLI), every message body RabbitMQ accepted (its firehose tracer sees
each publish), every metric the workers export, and every row of every ``anchor_*`` table:
zero hits.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pika
import psycopg2
import pytest
from stellar_sdk import Keypair
from support.database import migrated
from support.secret import TEST_SECRET_KEY
from support.services import free_port

from anchor_dramatiq.crypto import Secret
from anchor_dramatiq.models import Channel, Submission
from reliability.chaos import ChaosConfig, ChaosRun
from simnet import Simnet

pytestmark = [pytest.mark.services, pytest.mark.long(seconds=40), pytest.mark.timeout(300)]


class Firehose:
    """Every message published on the node, from RabbitMQ's ``amq.rabbitmq.trace`` exchange."""

    def __init__(self, rabbit) -> None:
        self.rabbit = rabbit
        self.bodies: list[bytes] = []
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._consume, daemon=True)

    def _ctl(self, command: str) -> None:
        argv = ["rabbitmqctl", "-n", self.rabbit.node, command]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "rabbitmq", "--", *argv]
        subprocess.run(argv, env=self.rabbit._env(), check=True, capture_output=True, timeout=60)

    def _consume(self) -> None:
        connection = pika.BlockingConnection(pika.URLParameters(self.rabbit.url))
        channel = connection.channel()
        queue = channel.queue_declare("", exclusive=True).method.queue
        channel.queue_bind(queue, "amq.rabbitmq.trace", "publish.#")
        self.ready.set()
        for method, _, body in channel.consume(queue, inactivity_timeout=0.5, auto_ack=True):
            if method is not None:
                self.bodies.append(body)
            if self.stop.is_set():
                break
        connection.close()

    def __enter__(self) -> Firehose:
        self._ctl("trace_on")
        self.thread.start()
        assert self.ready.wait(30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)
        self._ctl("trace_off")


@pytest.fixture
def secrets_db(pg_url: str) -> Iterator[str]:
    with migrated(pg_url) as url:
        yield url


def anchor_rows(db_url: str) -> list[str]:
    """Every row of every anchor_* table, as text."""
    connection = psycopg2.connect(db_url)
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'anchor\\_%'")
            tables = [name for (name,) in cur.fetchall()]
            rows = []
            for table in tables:
                cur.execute(f'SELECT * FROM "{table}"')
                rows += [f"{table}: {row!r}" for row in cur.fetchall()]
    finally:
        connection.close()
    assert {"anchor_submission", "anchor_payment", "anchor_channel", "anchor_cursor"} <= set(tables)
    return rows


def test_no_secret_in_logs_messages_metrics_or_rows(secrets_db: str, rabbitmq, tmp_path: Path) -> None:
    calm = dict(worker_kill_every=1e9, streamer_kill_every=1e9, scheduler_kill_every=1e9, rabbit_restarts=0,
                postgres_restarts=0, postgres_crashes_after_payout=0, slow_payout_every=0)
    cfg = ChaosConfig(deposits=6, withdrawals=6, duration=10, drain_timeout=120, wallets=3, payers=2,
                      channels=3, **calm)
    signing = Keypair.random()
    metrics_port = free_port()
    scraped: list[str] = []
    cli_output: list[str] = []
    with Simnet(ledger_interval=0.2) as sim, Firehose(rabbitmq) as firehose:
        run = ChaosRun(cfg, sim, secrets_db, rabbitmq.url, tmp_path, secret_key=TEST_SECRET_KEY,
                       log_level="DEBUG")

        def after_setup() -> dict[str, str]:
            env = {**run.env(), "ANCHOR_SIGNING_SEED": signing.secret}
            done = subprocess.run([sys.executable, "-m", "anchor_dramatiq.cli", "channels", "list"], env=env,
                                  cwd=Path(__file__).parents[2], capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
            cli_output.append(done.stdout + done.stderr)
            return {"ANCHOR_SIGNING_SEED": signing.secret, "ANCHOR_METRICS_PORT": str(metrics_port)}

        def scrape() -> None:
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as answer:
                scraped.append(answer.read().decode())

        report = run.run(after_setup, scrape)
    assert (report.double_payments, report.lost_payments, report.not_terminal) == (0, 0, {})
    channels = list(Channel.select())
    assert len(channels) == 3
    assert Submission.select().where(Submission.channel.is_null(False)).exists()  # channels signed
    secrets = {"distribution seed": run.distribution.secret, "signing seed": signing.secret,
               "ANCHOR_SECRET_KEY": TEST_SECRET_KEY,
               **{f"channel seed {c.public_key}": c.secret(Secret(TEST_SECRET_KEY)).reveal()
                  for c in channels}}

    logs = [run.worker_logs()] + [run.supervised[name].logs() for name in ("scheduler", "streamer")] \
        + cli_output
    logs.append(run.cli_output)  # `anchor-dramatiq channels create 3 --asset USD` at DEBUG
    lines = [line for text in logs for line in text.splitlines()]
    messages = [body.decode(errors="replace") for body in firehose.bodies]
    rows = anchor_rows(secrets_db)
    places = {"log lines": lines, "message bodies": messages, "metrics": scraped[0].splitlines(),
              "anchor_* rows": rows}
    # it really logged at DEBUG (peewee's SQL echo is off by design, so hundreds, not thousands)
    assert len(lines) > 300 and any(" DEBUG " in line for line in lines)
    assert sum("process_payment" in m for m in messages) >= cfg.withdrawals
    # deposit work was on the wire too: the pipeline's messages (channels exist) or submit_deposit's
    deposit_actors = ("submit_deposit", "pay_ready_deposits", "settle_deposit_batch")
    assert sum(any(actor in m for actor in deposit_actors) for m in messages) >= 1
    assert "anchor_transactions" in scraped[0] or "dramatiq_" in scraped[0]
    assert any(r.startswith("anchor_submission") for r in rows)
    hits = [(place, what) for place, texts in places.items() for text in texts
            for what, secret in secrets.items() if secret in text]
    assert hits == [], hits
