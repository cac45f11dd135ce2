"""The database: one peewee proxy, opened from ``ANCHOR_DATABASE_URL``, and the column types
that must read and write django-polaris's tables exactly as Django does on each backend.

Django stores, and this module reproduces:

- UUIDs as ``char(32)`` hex on SQLite and ``uuid`` on PostgreSQL;
- datetimes as naive UTC text on SQLite and ``timestamp with time zone`` on PostgreSQL;
- amounts as ``decimal`` on SQLite (SQLite keeps them as REAL: 15 significant digits,
  Polaris's own limit there) and ``numeric(30,7)`` on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from decimal import Context, Decimal
from typing import Any

import peewee
from playhouse.db_url import connect as connect_url

database = peewee.DatabaseProxy()

STROOP = Decimal("0.0000001")
_FLOAT_CONTEXT = Context(prec=15)

SQLITE_TYPES = {
    "BOOL": "bool",
    "TIMESTAMPTZ": "datetime",
    "AMOUNT": "decimal",
    "EXACT_AMOUNT": "text",
    "PUUID": "char(32)",
    "UINT": "integer unsigned",
}
POSTGRES_TYPES = {
    "TIMESTAMPTZ": "timestamp with time zone",
    "AMOUNT": "numeric(30,7)",
    "EXACT_AMOUNT": "numeric(30,7)",
    "PUUID": "uuid",
    "UINT": "integer",
}
SQLITE_PRAGMAS = {"journal_mode": "wal", "busy_timeout": 30_000, "foreign_keys": 1}


def open_database(url: str) -> peewee.Database:
    """Build the peewee database for ``url`` and point :data:`database` at it."""
    if url.startswith("sqlite"):
        # BEGIN IMMEDIATE: a transaction takes the write lock up front, so two threads never
        # deadlock upgrading read locks (SQLite would answer "database is locked" at once).
        db = connect_url(url, pragmas=SQLITE_PRAGMAS, field_types=SQLITE_TYPES,
                         check_same_thread=False, timeout=30, lock_type="IMMEDIATE")
    else:
        db = connect_url(url.replace("postgres://", "postgresql://", 1),
                         field_types=POSTGRES_TYPES)
    database.initialize(db)
    return db


def is_sqlite() -> bool:
    return isinstance(database.obj, peewee.SqliteDatabase)


def is_postgres() -> bool:
    return isinstance(database.obj, peewee.PostgresqlDatabase)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def quantize(amount: Decimal) -> Decimal:
    """Round to Stellar's 7 decimal places."""
    return amount.quantize(STROOP)


class UTCDateTimeField(peewee.Field):
    """Timezone-aware UTC datetimes, stored as Django stores them on each backend."""

    field_type = "TIMESTAMPTZ"

    def db_value(self, value: Any) -> Any:
        if value is None or not isinstance(value, dt.datetime):
            return value
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware UTC datetime is required")
        if is_sqlite():
            return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(
                sep=" ", timespec="microseconds")
        return value

    def python_value(self, value: Any) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class AmountField(peewee.Field):
    """A Stellar amount: always :class:`Decimal` with 7 places, never a float in Python."""

    field_type = "AMOUNT"

    def db_value(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("amounts are Decimal, never float")
        amount = quantize(Decimal(value))
        return str(amount) if is_sqlite() else amount

    def python_value(self, value: Any) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, float):
            return quantize(_FLOAT_CONTEXT.create_decimal_from_float(value))
        return quantize(Decimal(str(value)))


class ExactAmountField(AmountField):
    """An amount in the project's own tables: text on SQLite, so no digit is ever lost."""

    field_type = "EXACT_AMOUNT"


class UnsignedIntegerField(peewee.IntegerField):
    """Django's PositiveIntegerField: ``integer unsigned`` on SQLite, ``integer`` on PostgreSQL
    (the model adds the ``>= 0`` check)."""

    field_type = "UINT"


class PolarisUUIDField(peewee.UUIDField):
    """Polaris's UUID primary key: ``char(32)`` hex on SQLite, ``uuid`` on PostgreSQL."""

    field_type = "PUUID"
