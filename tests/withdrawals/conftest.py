"""Fixtures for the withdrawal tests: simnet, a migrated PostgreSQL, real processes."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pika
import pytest
from operations.processes import Process, workers_argv

from anchor_dramatiq import config
from anchor_dramatiq.db import database, open_database
from anchor_dramatiq.migrate import migrate
from simnet import Simnet

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
SECRET_KEY = "test-secret-key-for-anchor-dramatiq"
QUEUES = ("payments", "withdrawals", "periodic", "default")


@pytest.fixture
def sim() -> Iterator[Simnet]:
    with Simnet(ledger_interval=0.1, stream_timeout=5.0) as net:
        yield net


@pytest.fixture
def pg_db(pg_url: str, sim: Simnet) -> Iterator[str]:
    """A migrated PostgreSQL database, opened and configured in the test process (Horizon = simnet)."""
    settings = config.Settings.from_env({"ANCHOR_DATABASE_URL": pg_url, "ANCHOR_SECRET_KEY": SECRET_KEY,
                                         "ANCHOR_HORIZON_URL": sim.url})
    config.configure(settings)
    open_database(pg_url)
    migrate()
    yield pg_url
    database.close()
    config.configure(None)


def purge(broker_url: str) -> None:
    """Empty the project's queues: messages left by an earlier test name rows of another database."""
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    for queue in QUEUES:
        for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
            channel = connection.channel()
            try:
                channel.queue_purge(name)
                channel.close()
            except pika.exceptions.ChannelClosedByBroker:  # never declared yet
                pass
    connection.close()


@pytest.fixture
def process_env(pg_db: str, broker_url: str, sim: Simnet, tmp_path: Path) -> dict[str, str]:
    """What a deployed worker or streamer gets: RabbitMQ, PostgreSQL, simnet, the counting rails."""
    purge(broker_url)
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANCHOR_")}
    env.update({
        "ANCHOR_DATABASE_URL": pg_db,
        "ANCHOR_BROKER_URL": broker_url,
        "ANCHOR_SECRET_KEY": SECRET_KEY,
        "ANCHOR_HORIZON_URL": sim.url,
        "ANCHOR_RAILS": "withdrawals.rails:CountingRails",
        "ANCHOR_STREAM_SILENCE_TIMEOUT": "5",
        "ANCHOR_CLAIM_TIMEOUT": "30",
        "ANCHOR_TEST_RAILS_LOG": str(tmp_path / "rails.log"),
        "PYTHONPATH": os.pathsep.join([str(TESTS), str(REPO)]),
        "PYTHONUNBUFFERED": "1",
        "TZ": "UTC",
        "dramatiq_prom_db": str(tmp_path / "prometheus"),
    })
    return env


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Process]]:
    """Start project processes; whatever a test leaves running is killed at the end."""
    started: list[Process] = []

    def run(kind: str, env: dict[str, str]) -> Process:
        argv = {"workers": workers_argv(processes=1, threads=4),
                "streamer": [sys.executable, str(REPO / "streamer.py")]}[kind]
        process = Process(argv, env, tmp_path / f"{kind}-{len(started)}.log")
        started.append(process)
        return process

    yield run
    for process in started:
        process.kill()

