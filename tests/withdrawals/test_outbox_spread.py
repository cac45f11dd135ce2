"""The outbox spreads a ledger's worth of payments over several ``process_payments`` messages
(worker threads match them at once) and sends a backlog in full batches; every id once."""

from __future__ import annotations

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from support.factories import make_asset, payment_record

from anchor_dramatiq.models import Payment
from anchor_dramatiq.payments import outbox
from anchor_dramatiq.payments.records import payment_fields
from anchor_dramatiq.streaming.cursor import record_batch


@pytest.mark.parametrize(("count", "sizes"), [(3, [3]), (100, [13] * 7 + [9]), (500, [100] * 5)])
def test_every_id_once_spread_or_in_full_batches(db: str, count: int, sizes: list[int]) -> None:
    asset, account = make_asset()
    records = [payment_record(account, asset, memo=f"s{i}") for i in range(count)]
    record_batch(account, [payment_fields(r, account) for r in records], records[-1]["paging_token"])
    broker = StubBroker()
    assert outbox.publish(broker, outbox.due()) == count
    queued = broker.queues["payments"]
    bodies = [dramatiq.Message.decode(queued.get_nowait()).args[0] for _ in range(queued.qsize())]
    assert [len(body) for body in bodies] == sizes
    assert [i for body in bodies for i in body] == [r["id"] for r in records]
    assert not Payment.select().where(Payment.published_at.is_null()).exists()
