"""Process-level fixtures: a migrated PostgreSQL database and real worker/scheduler processes."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from anchor_dramatiq import config
from anchor_dramatiq.db import database, open_database
from anchor_dramatiq.migrate import migrate
from operations.processes import Process

SECRET_KEY = "operations-test-secret-key-0123456789"


@pytest.fixture
def ops_db(pg_url: str) -> Iterator[str]:
    """A migrated PostgreSQL database, opened in the test process too."""
    settings = config.Settings.from_env({"ANCHOR_DATABASE_URL": pg_url, "ANCHOR_SECRET_KEY": SECRET_KEY})
    config.configure(settings)
    open_database(pg_url)
    migrate()
    yield pg_url
    database.close()
    config.configure(None)


@pytest.fixture
def process_env(ops_db: str, broker_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment a deployed process gets: real RabbitMQ, PostgreSQL, nothing inherited."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANCHOR_")}
    env.update({
        "ANCHOR_DATABASE_URL": ops_db,
        "ANCHOR_BROKER_URL": broker_url,
        "ANCHOR_SECRET_KEY": SECRET_KEY,
        "ANCHOR_HORIZON_URL": "http://127.0.0.1:9",
        "TZ": "UTC",
        "PYTHONUNBUFFERED": "1",
        "dramatiq_prom_db": str(tmp_path / "prometheus"),
    })
    return env


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Process]]:
    """Start processes; whatever a test leaves running is killed at the end."""
    started: list[Process] = []

    def run(argv: list[str], env: dict[str, str], name: str) -> Process:
        process = Process(argv, env, tmp_path / f"{name}-{len(started)}.log")
        started.append(process)
        return process

    yield run
    for process in started:
        process.kill()
