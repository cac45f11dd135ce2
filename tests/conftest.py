"""Shared fixtures: real PostgreSQL and RabbitMQ started on demand, databases on both backends."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
TEST_SECRET_KEY = "test-secret-key-for-anchor-dramatiq"

# Defaults for everything imported by the tests (the in-process broker, a scratch SQLite).
os.environ.setdefault("ANCHOR_SECRET_KEY", TEST_SECRET_KEY)
os.environ.setdefault("ANCHOR_DATABASE_URL", "sqlite:///" + str(Path(os.environ.get(
    "TMPDIR", "/tmp")) / f"anchor-test-{os.getpid()}.sqlite3"))
os.environ.pop("ANCHOR_BROKER_URL", None)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from services import PostgresServer, RabbitServer  # noqa: E402

from anchor_dramatiq import config  # noqa: E402
from anchor_dramatiq.db import database, open_database  # noqa: E402
from anchor_dramatiq.migrate import migrate  # noqa: E402


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


def new_postgres_database(postgres: PostgresServer | None) -> str:
    if postgres is not None:
        return postgres.create_database()
    import uuid

    import psycopg2

    base = os.environ["ANCHOR_TEST_POSTGRES_URL"]
    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = psycopg2.connect(base)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return base.rsplit("/", 1)[0] + "/" + name


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
def settings_env(db_url: str) -> dict[str, str]:
    return {"ANCHOR_DATABASE_URL": db_url, "ANCHOR_SECRET_KEY": TEST_SECRET_KEY}


@contextmanager
def migrated(url: str, secret_key: str = TEST_SECRET_KEY) -> Iterator[str]:
    """``url`` migrated and installed as the project's database, with settings to match."""
    config.configure(config.Settings.from_env({"ANCHOR_DATABASE_URL": url,
                                               "ANCHOR_SECRET_KEY": secret_key}))
    open_database(url)
    migrate()
    try:
        yield url
    finally:
        database.close()
        config.configure(None)


@pytest.fixture
def db(db_url: str) -> Iterator[str]:
    """A migrated database on each backend, installed as the project's database."""
    with migrated(db_url) as url:
        yield url
