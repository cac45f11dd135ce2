"""Forward-only, idempotent schema migrations.

Works on an empty database (creates Polaris's tables with Polaris's column types) and on
one django-polaris 2.6 created (leaves its tables as they are, adds the project's tables
and the indexes the flows need). Each step is safe to re-run; applied steps are recorded
in ``anchor_schema_version``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from peewee import fn

from anchor_dramatiq.db import database, is_postgres
from anchor_dramatiq.models import ANCHOR_MODELS, POLARIS_MODELS, FenceCounter, Payout, Refund, SchemaVersion

log = logging.getLogger(__name__)

_ADVISORY_LOCK_KEY = 0x616E63686F72  # "anchor": one migrator at a time on PostgreSQL

INDEXES = (
    # Polaris's own, so a fresh database looks like one Polaris created.
    ("polaris_transaction_asset_id_bbf1d3db", "polaris_transaction", ("asset_id",)),
    ("polaris_transaction_quote_id_1ffc834e", "polaris_transaction", ("quote_id",)),
    # What the flows query by; Polaris has none of these.
    ("anchor_tx_kind_status", "polaris_transaction", ("kind", "status", "submission_status")),
    ("anchor_tx_memo_account", "polaris_transaction", ("memo", "receiving_anchor_account")),
    ("anchor_tx_status_started", "polaris_transaction", ("status", "started_at")),
    ("anchor_tx_stellar_tx_id", "polaris_transaction", ("stellar_transaction_id",)),
)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[], None]


def _create_tables() -> None:
    database.create_tables(POLARIS_MODELS, safe=True)
    database.create_tables(ANCHOR_MODELS, safe=True)


def _create_indexes() -> None:
    for name, table, columns in INDEXES:
        cols = ", ".join(f'"{c}"' for c in columns)
        database.execute_sql(f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" ({cols})')


def _add_column(table: str, column: str, definition: str) -> None:
    """``ALTER TABLE ... ADD COLUMN`` unless a fresh database already has the column."""
    if column not in {c.name for c in database.get_columns(table)}:
        database.execute_sql(f'ALTER TABLE "{table}" ADD COLUMN "{column}" {definition}')


def _add_submission_max_ledger() -> None:
    """``anchor_submission.max_ledger``: nullable, so rows stored before it keep working."""
    _add_column("anchor_submission", "max_ledger", "BIGINT")


def _payouts_and_fences() -> None:
    """Durable payout records, fencing tokens on leases and channel leases."""
    database.create_tables([FenceCounter, Payout], safe=True)
    _add_column("anchor_lease", "fence", "BIGINT NOT NULL DEFAULT 0")
    _add_column("anchor_channel", "lease_fence", "BIGINT NOT NULL DEFAULT 0")


def _refunds() -> None:
    """Refunds of incoming payments, one per payment (``anchor_refund``)."""
    database.create_tables([Refund], safe=True)


def _cursor_gap() -> None:
    """``anchor_cursor.gap``: a stream held on ledgers its RPC node no longer keeps."""
    _add_column("anchor_cursor", "gap", "TEXT")


def _payment_forged_by() -> None:
    """``anchor_payment.forged_by``: an RPC event its asset's own contract did not emit."""
    _add_column("anchor_payment", "forged_by", "VARCHAR(56)")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "tables", _create_tables),
    Migration(2, "indexes", _create_indexes),
    Migration(3, "submission_max_ledger", _add_submission_max_ledger),
    Migration(4, "payouts_and_fences", _payouts_and_fences),
    Migration(5, "refunds", _refunds),
    Migration(6, "cursor_gap", _cursor_gap),
    Migration(7, "payment_forged_by", _payment_forged_by),
)


def migrate() -> list[str]:
    """Apply every migration not yet recorded; return the names applied."""
    applied: list[str] = []
    with database.atomic():
        if is_postgres():
            database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_ADVISORY_LOCK_KEY,))
        database.create_tables([SchemaVersion], safe=True)
        done = {row.version for row in SchemaVersion.select(SchemaVersion.version)}
        for step in MIGRATIONS:
            if step.version in done:
                continue
            step.apply()
            SchemaVersion.create(version=step.version, name=step.name)
            applied.append(step.name)
            log.info("migration %s (%s) applied", step.version, step.name)
    return applied


def current_version() -> int:
    """The highest applied migration, 0 on a database never migrated."""
    if not database.table_exists(SchemaVersion._meta.table_name):
        return 0
    return SchemaVersion.select(fn.MAX(SchemaVersion.version)).scalar() or 0
