"""The chaos run (see chaos.py): real workers, scheduler and streamer on RabbitMQ, PostgreSQL
and simnet, paying deposits and withdrawals while processes, the broker, the database and
Horizon fail. CI size by default; ``CHAOS_SIZE=full`` (``make chaos``) for the full run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.database import migrated

from reliability.chaos import ChaosConfig, ChaosRun
from simnet import Simnet

FULL = os.environ.get("CHAOS_SIZE") == "full"

pytestmark = [pytest.mark.services, pytest.mark.long(seconds=140), pytest.mark.timeout(3600 if FULL else 420)]


@pytest.fixture
def chaos_db(pg_url: str) -> Iterator[str]:
    with migrated(pg_url) as url:
        yield url


@pytest.mark.parametrize("network_api", ["horizon", "rpc"])
def test_chaos_run_pays_everything_exactly_once(chaos_db: str, broker_url: str, rabbitmq, postgres,
                                                tmp_path: Path, network_api: str) -> None:
    cfg = ChaosConfig.full(network_api) if FULL else ChaosConfig.ci(network_api)
    own_rabbit = None if os.environ.get("ANCHOR_TEST_BROKER_URL") else rabbitmq
    with Simnet(ledger_interval=0.2, submission_timeout=2.0, stream_timeout=30.0, seed=cfg.seed) as sim:
        run = ChaosRun(cfg, sim, chaos_db, broker_url, tmp_path, rabbit=own_rabbit, postgres=postgres)
        report = run.run()
    print(report.as_json())
    if os.environ.get("CHAOS_REPORT"):  # one report per backend: report.horizon.json, report.rpc.json
        Path(os.environ["CHAOS_REPORT"]).with_suffix(f".{network_api}.json").write_text(report.as_json())
    assert run.errors == []
    assert report.drain_seconds is not None, f"not drained in {cfg.drain_timeout}s: {report.not_terminal}"
    assert report.not_terminal == {}
    assert report.deposits_not_paid == [] and report.deposits_paid_twice == []
    assert report.withdrawal_payments_unrecorded == [] and report.withdrawal_payments_recorded_twice == []
    assert report.withdrawals_unmatched == []
    # Once ever: no payout call is made twice, whether its worker was killed, the database crashed
    # before its result was saved, or the call outlasted the claim.
    assert report.payouts_repeated == [], "the rails were called twice for one transaction"
    assert report.dead_letters_unaccounted == 0, report.dead_letters
    assert (report.double_payments, report.lost_payments) == (0, 0)
    assert report.faults["worker process SIGKILLed"] >= 3
    assert report.faults["streamer SIGKILLed"] >= 1
    assert report.faults["periodiq scheduler SIGKILLed"] >= 1
    assert report.faults["PostgreSQL crashed right after a payout call"] >= 1
    fired = {name for name, n in report.faults.items() if name.startswith("simnet: ") and n}
    assert len(fired) >= 6, f"too few hostile-network faults fired: {report.faults}"
