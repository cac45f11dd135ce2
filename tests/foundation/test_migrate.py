"""migrate: on an empty database and on one django-polaris 2.6 created, both backends."""

import datetime as dt
import uuid
from decimal import Decimal

import peewee
import psycopg2
import pytest
from support.paths import DATA
from support.secret import TEST_SECRET_KEY

from anchor_dramatiq import config
from anchor_dramatiq.db import database, open_database
from anchor_dramatiq.migrate import MIGRATIONS, current_version, migrate
from anchor_dramatiq.models import ANCHOR_MODELS, Asset, Transaction

POLARIS_TABLES = ("polaris_asset", "polaris_quote", "polaris_transaction")


def load_polaris_schema(url: str) -> None:
    """What `manage.py migrate` of django-polaris 2.6.0 leaves behind (dumped in tests/data/polaris/)."""
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        conn.executescript((DATA / "polaris" / "schema-sqlite.sql").read_text())
        conn.close()
    else:
        conn = psycopg2.connect(url)
        with conn, conn.cursor() as cur:
            cur.execute((DATA / "polaris" / "schema-postgresql.sql").read_text())
        conn.close()


def columns(table: str) -> dict[str, tuple]:
    """name -> (type, nullable) as the database itself reports them."""
    db = database.obj
    if isinstance(db, peewee.SqliteDatabase):
        rows = db.execute_sql(f'PRAGMA table_info("{table}")').fetchall()
        return {r[1]: (r[2].lower(), not r[3] and not r[5]) for r in rows}
    rows = db.execute_sql(
        "SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale,"
        " is_nullable FROM information_schema.columns WHERE table_name = %s", (table,)).fetchall()
    return {r[0]: (r[1], r[2], r[3], r[4], r[5] == "YES") for r in rows}


def use(url: str) -> None:
    config.configure(config.Settings.from_env({"ANCHOR_DATABASE_URL": url,
                                               "ANCHOR_SECRET_KEY": TEST_SECRET_KEY}))
    open_database(url)


@pytest.fixture
def reference_columns(db_url, tmp_path, request):
    """Columns of Polaris's tables in a database Polaris's own schema created."""
    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'polaris-reference.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_url")
    load_polaris_schema(url)
    use(url)
    found = {table: columns(table) for table in POLARIS_TABLES}
    database.close()
    return found


def write_and_read_back() -> None:
    asset = Asset.create(code="USDC", issuer="G" + "A" * 55, distribution_seed="x")
    started = dt.datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)
    created = Transaction.create(
        stellar_account="GABC", asset=asset, kind="withdrawal", status="pending_user_transfer_start",
        amount_in=Decimal("100.1234567"), amount_expected=Decimal("100"), memo_type="hash",
        memo="AAAA", started_at=started, account_memo=7, protocol="sep24")
    row = Transaction.get_by_id(created.id)
    assert isinstance(row.id, uuid.UUID) and row.id == created.id
    assert row.amount_in == Decimal("100.1234567") and isinstance(row.amount_in, Decimal)
    assert row.amount_expected == Decimal("100.0000000")
    assert row.started_at == started and row.started_at.tzinfo is not None
    assert row.asset.code == "USDC"
    assert row.status == "pending_user_transfer_start" and row.refunded is False
    with pytest.raises(TypeError):
        Transaction.update(amount_in=1.5).where(Transaction.id == row.id).execute()


def test_migrate_empty_database_matches_polaris_columns(db_url, reference_columns):
    use(db_url)
    assert migrate() == [m.name for m in MIGRATIONS]
    assert migrate() == []
    assert current_version() == MIGRATIONS[-1].version
    for table in POLARIS_TABLES:
        assert columns(table) == reference_columns[table], table
    for model in ANCHOR_MODELS:
        assert database.table_exists(model._meta.table_name)
    write_and_read_back()
    database.close()


def test_migrate_polaris_created_database(db_url, reference_columns):
    load_polaris_schema(db_url)
    use(db_url)
    assert current_version() == 0
    assert migrate() == [m.name for m in MIGRATIONS]
    assert migrate() == []
    for table in POLARIS_TABLES:
        assert columns(table) == reference_columns[table], table
    indexes = {i.name for i in database.get_indexes("polaris_transaction")}
    assert {"anchor_tx_kind_status", "anchor_tx_memo_account"} <= indexes
    write_and_read_back()
    database.close()


def test_reads_rows_django_wrote_on_sqlite(tmp_path):
    """Django's SQLite formats: char(32) hex ids, naive-UTC datetime text, REAL decimals."""
    url = f"sqlite:///{tmp_path / 'p.sqlite3'}"
    load_polaris_schema(url)
    use(url)
    migrate()
    tx_id = uuid.uuid4()
    database.execute_sql(
        "INSERT INTO polaris_asset (created, modified, code, issuer, significant_decimals, "
        "deposit_enabled, deposit_min_amount, deposit_max_amount, withdrawal_enabled, "
        "withdrawal_min_amount, withdrawal_max_amount, send_min_amount, send_max_amount, "
        "sep24_enabled, sep6_enabled, sep31_enabled, symbol, sep38_enabled) VALUES "
        "('2024-01-02 03:04:05.678901', '2024-01-02 03:04:05', 'USD', 'GISSUER', 2, 1, '0', "
        "'999999999999999999', 1, '0', '100', '0', '100', 1, 0, 0, '$', 0)")
    database.execute_sql(
        "INSERT INTO polaris_transaction (id, stellar_account, kind, status, amount_in, started_at,"
        " memo_type, refunded, asset_id, pending_signatures, claimable_balance_supported, "
        "pending_execution_attempt, submission_status) VALUES "
        f"('{tx_id.hex}', 'GA', 'deposit', 'pending_user_transfer_start', '12.3400000', "
        "'2024-01-02 03:04:05', 'text', 0, 1, 0, 0, 0, 'not_ready')")
    row = Transaction.get_by_id(tx_id)
    assert row.amount_in == Decimal("12.3400000")
    assert row.started_at == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert row.asset.created == dt.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    assert row.asset.withdrawal_max_amount == Decimal("100")
    # and what we write reads back in Django's format
    Transaction.update(completed_at=dt.datetime(2025, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=2)))
                       ).where(Transaction.id == tx_id).execute()
    stored = database.execute_sql("SELECT completed_at, id FROM polaris_transaction").fetchone()
    assert stored == ("2024-12-31 22:00:00.000000", tx_id.hex)
    database.close()
