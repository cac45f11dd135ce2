"""The project's database, created and migrated for a test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from anchor_dramatiq import config
from anchor_dramatiq.db import database, open_database
from anchor_dramatiq.migrate import migrate
from support.secret import TEST_SECRET_KEY
from support.services import PostgresServer


def new_postgres_database(postgres: PostgresServer | None) -> str:
    """A fresh, empty database on ``postgres``, or on ANCHOR_TEST_POSTGRES_URL when None."""
    if postgres is not None:
        return postgres.create_database()
    import psycopg2

    base = os.environ["ANCHOR_TEST_POSTGRES_URL"]
    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = psycopg2.connect(base)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return base.rsplit("/", 1)[0] + "/" + name


@contextmanager
def migrated(url: str, secret_key: str = TEST_SECRET_KEY, **env: str) -> Iterator[str]:
    """``url`` migrated and installed as the project's database, with settings to match
    (``env``: more ANCHOR_* variables for them)."""
    config.configure(config.Settings.from_env({"ANCHOR_DATABASE_URL": url,
                                               "ANCHOR_SECRET_KEY": secret_key, **env}))
    open_database(url)
    migrate()
    try:
        yield url
    finally:
        database.close()
        config.configure(None)
