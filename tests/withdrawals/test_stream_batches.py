"""The streamer's batches on simnet: a batch that fails halfway, a payment in two batches,
catch-up through several pages into the live stream, and a slow database (backpressure)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker
from stellar_sdk import Server, TextMemo
from support.chain import Chain, StreamerThread
from support.factories import make_asset, payment_record

from anchor_dramatiq import config
from anchor_dramatiq.db import database
from anchor_dramatiq.models import Cursor, Payment
from anchor_dramatiq.payments.records import payment_fields
from anchor_dramatiq.streaming import stream
from anchor_dramatiq.streaming.cursor import record_batch
from anchor_dramatiq.streaming.dbthread import DatabaseThread
from simnet import Simnet

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def chain(sim: Simnet, db: str) -> Chain:
    config.configure(config.get_settings().replace(horizon_url=sim.url, stream_silence_timeout=5.0,
                                                   stream_start_cursor="0"))
    chain = Chain(sim)
    chain.register()
    return chain


def pay_many(chain: Chain, count: int, memo: str, per_tx: int = 100) -> None:
    """``count`` payments to the anchor, ``per_tx`` operations a transaction."""
    for start in range(0, count, per_tx):
        ops = min(per_tx, count - start)
        chain.submit(chain.user, lambda b, ops=ops: [b.append_payment_op(chain.account, chain.usd, "1")
                                                     for _ in range(ops)], TextMemo(memo))


def horizon_payments(chain: Chain) -> list[dict[str, Any]]:
    """Every payment to the anchor as Horizon lists them, oldest first."""
    server = Server(chain.sim.url)
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        builder = server.payments().for_account(chain.account).order(desc=False).limit(200)
        records = (builder.cursor(cursor) if cursor else builder).call()["_embedded"]["records"]
        out += [r for r in records if r.get("type") == "payment" and r.get("to") == chain.account]
        if len(records) < 200:
            return out
        cursor = records[-1]["paging_token"]


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def assert_cursor_covers_exactly_what_is_recorded(account: str, expected: list[str]) -> None:
    """Every expected payment at or before the cursor is recorded, and none after it is."""
    row = Cursor.get_or_none(Cursor.account == account)
    cursor = int(row.paging_token) if row else 0
    recorded = {p.operation_id for p in Payment.select(Payment.operation_id)}
    assert recorded == {op for op in expected if int(op) <= cursor}


@pytest.fixture
def refuse_insert(db: str) -> Iterator[Callable[[str], None]]:
    """Install a trigger that makes the insert of one operation id fail (and drop it after)."""
    installed: list[str] = []

    def install(operation_id: str) -> None:
        if db.startswith("postgres"):
            database.execute_sql(
                "CREATE FUNCTION refuse_one() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.operation_id = '{operation_id}' THEN RAISE EXCEPTION 'injected'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql")
            database.execute_sql("CREATE TRIGGER refuse_one BEFORE INSERT ON anchor_payment "
                                 "FOR EACH ROW EXECUTE FUNCTION refuse_one()")
        else:
            database.execute_sql(
                "CREATE TRIGGER refuse_one BEFORE INSERT ON anchor_payment "
                f"WHEN NEW.operation_id = '{operation_id}' BEGIN SELECT RAISE(ABORT, 'injected'); END")
        installed.append(operation_id)

    yield install
    if installed:
        remove_refusal(db)


def remove_refusal(db: str) -> None:
    postgres = db.startswith("postgres")
    database.execute_sql("DROP TRIGGER IF EXISTS refuse_one" + (" ON anchor_payment" if postgres else ""))
    if postgres:
        database.execute_sql("DROP FUNCTION IF EXISTS refuse_one()")


def test_a_batch_failing_halfway_records_nothing_without_its_cursor_and_loses_nothing(
        chain: Chain, db: str, refuse_insert: Callable[[str], None]) -> None:
    pay_many(chain, 300, "half")  # the first full page of 200 records is the first batch
    expected = [r["id"] for r in horizon_payments(chain)]
    assert len(expected) == 300
    refuse_insert(expected[100])  # its 101st payment row fails

    with StreamerThread(config.get_settings(), StubBroker()) as streamer:
        wait_until(lambda: streamer.streamer.streams.get(chain.account) is not None
                   and streamer.streamer.streams[chain.account].connections >= 3, "retries of the batch")
        assert_cursor_covers_exactly_what_is_recorded(chain.account, expected)
        assert Payment.select().count() == 0  # the 100 rows before it were rolled back with it
        remove_refusal(db)
        wait_until(lambda: Payment.select().count() == 300, "every payment recorded")
        assert_cursor_covers_exactly_what_is_recorded(chain.account, expected)

    assert sorted(p.operation_id for p in Payment.select()) == sorted(expected)
    assert int(Cursor.get(Cursor.account == chain.account).paging_token) >= int(expected[-1])


def test_a_payment_in_two_batches_is_recorded_once(db: str) -> None:
    asset, account = make_asset()
    first, second, third = (payment_record(account, asset, memo=f"d{i}") for i in range(3))

    def rows(*records: dict[str, Any]) -> list[dict[str, Any]]:
        return [payment_fields(r, account) for r in records]

    assert record_batch(account, rows(first, second), second["paging_token"]) == [first["id"], second["id"]]
    assert record_batch(account, rows(second, third), third["paging_token"]) == [third["id"]]
    assert record_batch(account, rows(first), first["paging_token"]) == []  # a replay from an old cursor
    assert sorted(p.operation_id for p in Payment.select()) == sorted(r["id"] for r in (first, second, third))
    assert Cursor.get(Cursor.account == account).paging_token == third["paging_token"]  # never back


def test_catch_up_pages_then_streams_live_with_no_gap_and_no_duplicate(chain: Chain) -> None:
    pay_many(chain, 500, "old")  # three pages of 200 behind the start cursor
    with StreamerThread(config.get_settings(), StubBroker()) as streamer:
        wait_until(lambda: Payment.select().count() >= 500, "the catch-up")
        pay_many(chain, 120, "live", per_tx=40)
        wait_until(lambda: Payment.select().count() >= 620, "the live payments")
        time.sleep(0.5)
        account_stream = streamer.streamer.streams[chain.account]
        assert account_stream.connections == 1  # paged, then the same connection streamed live
    expected = [r["id"] for r in horizon_payments(chain)]
    recorded = [p.operation_id for p in Payment.select().order_by(Payment.id)]
    assert len(recorded) == len(set(recorded)) == 620
    assert set(recorded) == set(expected)
    assert Cursor.get(Cursor.account == chain.account).paging_token == expected[-1]


class SlowDatabase(DatabaseThread):
    """The database thread of a database that takes 50 ms a call."""

    async def __call__(self, fn: Any, *args: Any) -> Any:
        await asyncio.sleep(0.05)
        return await super().__call__(fn, *args)


def test_a_slow_database_holds_the_reader_back(chain: Chain, monkeypatch: pytest.MonkeyPatch) -> None:
    pay_many(chain, 400, "slow")
    monkeypatch.setattr(stream, "QUEUE_RECORDS", 50)
    monkeypatch.setattr(stream, "BATCH_RECORDS", 20)
    monkeypatch.setattr("anchor_dramatiq.streaming.supervisor.DatabaseThread", SlowDatabase)
    with StreamerThread(config.get_settings(), StubBroker()) as streamer:
        wait_until(lambda: Payment.select().count() >= 400, "every payment recorded", timeout=120)
        account_stream = streamer.streamer.streams[chain.account]
        assert account_stream.max_queued == 50  # the reader filled the queue and waited
    assert len({p.operation_id for p in Payment.select()}) == 400
