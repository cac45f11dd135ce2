"""``anchor-dramatiq status`` and the metrics endpoint report what is in the database and queues."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import urllib.request
from decimal import Decimal

import pytest
from click.testing import CliRunner
from dramatiq import Message
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from prometheus_client.parser import text_string_to_metric_families
from stellar_sdk import Keypair
from support.paths import REPO
from support.services import free_port

from anchor_dramatiq.cli import main
from anchor_dramatiq.config import get_settings
from anchor_dramatiq.db import utcnow
from anchor_dramatiq.metrics import start_metrics_server
from anchor_dramatiq.models import Asset, Cursor, JobRun, Payment, Submission, Transaction

HOUR = dt.timedelta(hours=1)
ACCOUNT = Keypair.random().public_key


def ago(**kw: float) -> dt.datetime:
    return utcnow() - dt.timedelta(**kw)


@pytest.fixture
def states(db: str) -> dict[str, str]:
    """Transactions, submissions, payments, a cursor and a tick in several states."""
    asset = Asset.create(code="USD", issuer=Keypair.random().public_key)

    def tx(kind: str, status: str, started: dt.datetime) -> str:
        return str(Transaction.create(stellar_account=ACCOUNT, kind=kind, status=status, asset=asset,
                                      started_at=started, amount_in=Decimal("10")).id)

    tx("deposit", "completed", ago(hours=3))
    tx("deposit", "completed", ago(hours=1))
    stuck = tx("deposit", "pending_anchor", ago(hours=2))
    tx("deposit", "pending_anchor", ago(seconds=30))
    tx("withdrawal", "pending_user_transfer_start", ago(hours=5))  # waits on the user: not stuck
    tx("withdrawal", "pending_external", ago(seconds=20))
    tx("withdrawal", "error", ago(hours=1))

    def sub(n: int, state: str, created: dt.datetime, settled_after: float | None = None) -> None:
        Submission.create(hash=f"{n:064x}", source_account=ACCOUNT, sequence=n, envelope_xdr="AAAA",
                          max_time=0, fee=100, purpose="deposit", state=state, created_at=created,
                          settled_at=created + dt.timedelta(seconds=settled_after) if settled_after else None)

    sub(1, "succeeded", ago(minutes=10), 3)
    sub(2, "succeeded", ago(minutes=5), 5)
    sub(3, "submitted", ago(hours=2))
    sub(4, "built", ago(seconds=5))

    def pay(n: int, outcome: str, recorded: dt.datetime, reason: str | None = None) -> None:
        Payment.create(operation_id=str(1000 + n), paging_token=str(1000 + n), account=ACCOUNT,
                       transaction_hash=f"{n:064x}", operation_type="payment", successful=True,
                       asset_type="credit_alphanum4", asset_code="USD", asset_issuer=asset.issuer,
                       amount=Decimal("12.5"), memo=f"memo-{n}", memo_type="text", outcome=outcome,
                       reason=reason, recorded_at=recorded)

    pay(1, "matched", ago(minutes=3))
    pay(2, "unmatched", ago(minutes=2), "no transaction with this memo")
    pay(3, "unmatched", ago(minutes=1), "no transaction with this memo")
    pay(4, "pending", ago(hours=1))
    Cursor.create(account=ACCOUNT, paging_token=str(1234 << 32), last_ledger=1234,
                  last_event_at=ago(seconds=30))
    JobRun.create(actor="prune_job_runs_tick", tick="2026-01-01T00:00Z", created_at=ago(seconds=10))
    return {"stuck": stuck}


def test_status_json_counts_every_state(states: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["status", "--json", "--no-horizon", "--stuck-after", "900"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["transactions"] == {
        "deposit": {"completed": 2, "pending_anchor": 2},
        "withdrawal": {"pending_user_transfer_start": 1, "pending_external": 1, "error": 1},
    }
    oldest = data["oldest_open_transactions_seconds"]
    assert 7100 < oldest["deposit"]["pending_anchor"] < 7300
    assert 17900 < oldest["withdrawal"]["pending_user_transfer_start"] < 18100
    assert "completed" not in oldest["deposit"]
    assert data["submissions"] == {"succeeded": 2, "submitted": 1, "built": 1}
    assert data["submission_latency_last_hour"]["count"] == 2
    assert data["submission_latency_last_hour"]["quantiles"]["0.5"] == pytest.approx(5)
    assert data["payments"] == {"matched": 1, "unmatched": 2, "pending": 1}
    assert data["queues"] is None  # no ANCHOR_BROKER_URL: the in-process broker
    [stream] = data["streams"]
    assert stream["account"] == ACCOUNT and stream["last_ledger"] == 1234
    assert 25 < stream["last_event_age_seconds"] < 60
    assert 5 < data["last_tick_seconds"]["prune_job_runs_tick"] < 60
    stuck = data["stuck"]
    assert [t["id"] for t in stuck["transactions"]] == [states["stuck"]]
    assert [s["hash"] for s in stuck["submissions"]] == [f"{3:064x}"]
    assert [p["operation_id"] for p in stuck["payments"]] == ["1004"]
    assert [p["operation_id"] for p in data["problem_payments"]] == ["1003", "1002"]
    assert data["problem_payments"][0]["amount"] == "12.5000000"


def test_status_text_names_stuck_and_unmatched_items(states: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["status", "--no-horizon"])
    assert result.exit_code == 0, result.output
    assert f"transaction {states['stuck']} deposit pending_anchor" in result.output
    assert "stuck longer than 15m: 1 transactions, 1 submissions, 1 payments" in result.output
    assert "1002 unmatched" in result.output and "1003 unmatched" in result.output


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_endpoint_reports_the_same_numbers(states: dict[str, str]) -> None:
    port = free_port()
    server = start_metrics_server(get_settings().replace(metrics_port=port))
    try:
        samples = scrape(port)
    finally:
        server.shutdown()
        server.server_close()
    assert samples[("anchor_metrics_database_up", ())] == 1
    assert samples[("anchor_transactions", (("kind", "deposit"), ("status", "completed")))] == 2
    assert samples[("anchor_transactions", (("kind", "deposit"), ("status", "pending_anchor")))] == 2
    assert samples[("anchor_transactions", (("kind", "withdrawal"), ("status", "error")))] == 1
    assert 7100 < samples[("anchor_transaction_oldest_age_seconds",
                           (("kind", "deposit"), ("status", "pending_anchor")))] < 7300
    assert ("anchor_transaction_oldest_age_seconds", (("kind", "deposit"), ("status", "completed"))) \
        not in samples
    assert samples[("anchor_submissions", (("state", "succeeded"),))] == 2
    assert samples[("anchor_submissions", (("state", "submitted"),))] == 1
    assert 7100 < samples[("anchor_submission_oldest_age_seconds", (("state", "submitted"),))] < 7300
    assert samples[("anchor_submission_latency_seconds", (("quantile", "0.5"),))] == pytest.approx(5)
    assert samples[("anchor_submission_settled_last_hour", ())] == 2
    assert samples[("anchor_payments", (("outcome", "unmatched"),))] == 2
    assert samples[("anchor_payments", (("outcome", "pending"),))] == 1
    assert 3500 < samples[("anchor_payment_oldest_pending_age_seconds", ())] < 3700
    assert samples[("anchor_stream_cursor_ledger", (("account", ACCOUNT),))] == 1234
    assert 25 < samples[("anchor_stream_last_event_age_seconds", (("account", ACCOUNT),))] < 60
    assert 5 < samples[("anchor_periodic_last_tick_age_seconds", (("actor", "prune_job_runs_tick"),))] < 60


def test_status_reads_queue_depths_over_amqp(process_env: dict[str, str], broker_url: str) -> None:
    broker = RabbitmqBroker(url=broker_url, confirm_delivery=True)
    try:
        def send(delay: int | None = None) -> None:
            broker.enqueue(Message(queue_name="periodic", actor_name="prune_job_runs", args=(),
                                   kwargs={}, options={}), delay=delay)

        send(), send(delay=600_000)  # declares the queue, its delay queue and dead letters
        for queue in ("periodic", "periodic.DQ", "periodic.XQ"):
            broker.channel.queue_purge(queue)
        for _ in range(3):
            send()
        send(delay=600_000)
        result = subprocess.run([sys.executable, "-m", "anchor_dramatiq.cli", "status", "--json",
                                 "--no-horizon"], env=process_env, cwd=REPO, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        queues = json.loads(result.stdout)["queues"]
        assert queues["periodic"] == {"ready": 3, "delayed": 1, "dead": 0, "consumers": 0}
        assert set(queues) >= {"periodic"}
    finally:
        for queue in ("periodic", "periodic.DQ"):
            broker.channel.queue_purge(queue)
        broker.close()
