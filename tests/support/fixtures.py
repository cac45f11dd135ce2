"""The shared fixtures (a pytest plugin loaded by tests/conftest.py): private PostgreSQL and
RabbitMQ, databases on both backends, the in-process broker, and real project processes."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import dramatiq
import pytest

from anchor_dramatiq.network import shared
from anchor_dramatiq.network.factory import network_for
from support.database import migrated, new_postgres_database
from support.processes import Process, process_environment
from support.queues import purge_queues
from support.services import PostgresServer, RabbitServer


@pytest.fixture(scope="session", autouse=True)
def network_wiring() -> None:
    """The test process is wired as ``boot`` wires one: the flows' network client comes from
    ``network_for`` (tests that call a flow need not boot a broker for it)."""
    shared.use(network_for)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer | None]:
    """A private PostgreSQL, or None when ANCHOR_TEST_POSTGRES_URL names one to use."""
    if os.environ.get("ANCHOR_TEST_POSTGRES_URL"):
        yield None
        return
    server = PostgresServer()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def rabbitmq() -> Iterator[RabbitServer]:
    server = RabbitServer()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def broker_url(rabbitmq: RabbitServer) -> str:
    return os.environ.get("ANCHOR_TEST_BROKER_URL") or rabbitmq.url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'anchor.sqlite3'}"
    return new_postgres_database(request.getfixturevalue("postgres"))


@pytest.fixture
def pg_url(postgres: PostgresServer | None) -> str:
    """A fresh, empty PostgreSQL database URL."""
    return new_postgres_database(postgres)


@pytest.fixture
def db(db_url: str) -> Iterator[str]:
    """A migrated database on each backend, installed as the project's database."""
    with migrated(db_url) as url:
        yield url


@pytest.fixture
def horizon_url() -> str:
    """Where the project finds Horizon: a closed port, unless a folder overrides it (simnet)."""
    return "http://127.0.0.1:9"


@pytest.fixture
def pg_db(pg_url: str, horizon_url: str) -> Iterator[str]:
    """A migrated PostgreSQL database, installed in the test process with Horizon at ``horizon_url``."""
    with migrated(pg_url, ANCHOR_HORIZON_URL=horizon_url) as url:
        yield url


@pytest.fixture(params=["horizon", "rpc"])
def network_api(request: pytest.FixtureRequest) -> str:
    """The Stellar API the flows use (ANCHOR_NETWORK_API): a test that names this fixture runs
    over simnet's Horizon and over its Stellar RPC (see support/anchor.py)."""
    return request.param


@pytest.fixture
def broker() -> Iterator[dramatiq.Broker]:
    """The in-process StubBroker with every actor declared (the tests unset ANCHOR_BROKER_URL)."""
    import actors

    actors.broker.flush_all()
    yield actors.broker
    actors.broker.flush_all()


@pytest.fixture
def process_db(pg_db: str) -> str:
    """The database deployed processes use: PostgreSQL, unless a test module says otherwise."""
    return pg_db


@pytest.fixture
def process_env(process_db: str, broker_url: str, horizon_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment of a deployed process on RabbitMQ and ``process_db``, its queues emptied
    of what earlier tests left. A folder adds to it by extending it (a ``process_env`` fixture of
    its own that takes this one)."""
    purge_queues(broker_url)
    return process_environment(process_db, broker_url, horizon_url, tmp_path)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[[list[str], dict[str, str], str], Process]]:
    """``start(argv, env, name)`` starts a project process; whatever a test leaves running is
    killed at the end."""
    started: list[Process] = []

    def run(argv: list[str], env: dict[str, str], name: str) -> Process:
        process = Process(argv, env, tmp_path / f"{name}-{len(started)}.log")
        started.append(process)
        return process

    yield run
    for process in started:
        process.kill()
