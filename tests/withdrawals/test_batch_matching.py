"""The batch matcher (``process_payments``): the outcomes of the one-at-a-time path, payment by
payment; duplicates across batches and concurrent workers settle each payment once; a bounded
number of queries per batch; the actor end to end on RabbitMQ. Both backends."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import dramatiq
import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from stellar_sdk import Keypair, MuxedAccount
from support.factories import make_asset, make_withdrawal, payment_record
from support.processes import Process, workers_argv
from support.rails import calls
from support.waiting import wait_until

from anchor_dramatiq import config
from anchor_dramatiq.errors import PermanentError
from anchor_dramatiq.models import Payment, Refund, Transaction
from anchor_dramatiq.payments import process as process_module
from anchor_dramatiq.payments.process import process_payment, process_payments
from anchor_dramatiq.queues import ActorName, Queue
from anchor_dramatiq.streaming.cursor import record_event
from anchor_dramatiq.transitions import transition


@dataclass
class World:
    """Withdrawals and recorded payments; ``names`` turns this world's ids and addresses into
    names, so two identical worlds can be compared."""

    withdrawals: dict[str, Transaction] = field(default_factory=dict)
    payments: list[tuple[str, str]] = field(default_factory=list)  # (name, operation id), stream order
    names: dict[str, str] = field(default_factory=dict)

    def named(self, text: str | None) -> str | None:
        for value, name in self.names.items():
            text = text.replace(value, name) if text else text
        return text

    def outcomes(self) -> dict[str, tuple[str, str | None, str | None]]:
        """Each payment's (outcome, linked withdrawal's name, reason), in this world's names."""
        rows = {p.operation_id: p for p in Payment.select()}
        return {name: (rows[op].outcome, self.named(str(rows[op].transaction_id)) if rows[op].transaction_id
                       else None, self.named(rows[op].reason)) for name, op in self.payments}


def mixed_world() -> World:
    """One of every outcome, on two accounts, in one stream order, including payments whose
    outcome depends on an earlier payment of the same batch."""
    world = World()
    usd, account = make_asset("USD")
    held, held_account = make_asset("EURC")
    fake_issuer = Keypair.random().public_key
    muxed = MuxedAccount(account, 5).account_muxed
    w = world.withdrawals
    w["hash"] = make_withdrawal(usd, account)
    w["send"] = make_withdrawal(usd, account, kind="send", protocol="sep31", memo="4242", memo_type="id")
    w["twice"] = make_withdrawal(usd, account, memo="twice")
    w["iss"] = make_withdrawal(usd, account, memo="iss")
    w["fail"] = make_withdrawal(usd, account, memo="fail")
    w["expired"] = make_withdrawal(usd, account, memo="exp", status="expired")
    w["incomplete"] = make_withdrawal(usd, account, memo="inc", status="incomplete")
    w["treasury"] = make_withdrawal(usd, account, memo="treasury")
    w["over"] = make_withdrawal(held, held_account, memo="over", amount_expected=Decimal("10"))
    w["pp"] = make_withdrawal(usd, account, memo="pp")
    w["mx_g"] = make_withdrawal(usd, account, memo="mx")
    w["mx_m"] = make_withdrawal(usd, muxed, memo="mx")
    w["dup1"] = make_withdrawal(usd, account, memo="dup")
    w["dup2"] = make_withdrawal(usd, account, memo="dup")
    w["code"] = make_withdrawal(usd, account, memo="code")
    records = [
        ("hash", payment_record(account, usd, "10.0050000", memo=w["hash"].memo, memo_type="hash")),
        ("send", payment_record(account, usd, memo="4242", memo_type="id")),
        ("twice_first", payment_record(account, usd, memo="twice")),
        ("twice_second", payment_record(account, usd, "3", memo="twice")),
        ("no_memo", payment_record(account, usd)),
        ("unknown_memo", payment_record(account, usd, memo="nobody")),
        ("look_alike", payment_record(account, usd, memo="iss", issuer=fake_issuer)),
        ("failed", payment_record(account, usd, memo="fail", successful=False)),
        ("expired", payment_record(account, usd, memo="exp")),
        ("incomplete", payment_record(account, usd, memo="inc")),
        ("internal", payment_record(account, usd, memo="treasury", sender=usd.issuer)),
        ("overpaid", payment_record(held_account, held, "15", memo="over")),
        ("path", payment_record(account, usd, "7.1234567", memo="pp", op_type="path_payment_strict_send")),
        ("mx_to_g", payment_record(account, usd, memo="mx")),
        ("mx_to_m", payment_record(account, usd, memo="mx", to_muxed=muxed, to_muxed_id="5")),
        ("ambiguous", payment_record(account, usd, memo="dup")),
        ("wrong_code", payment_record(account, usd, memo="code", code="EUR")),
    ]
    for name, record in records:
        assert record_event(record, held_account if record["to"] == held_account else account)
        world.payments.append((name, record["id"]))
    world.names = {**{str(t.id): name for name, t in w.items()}, w["hash"].memo: "hash-memo",
                   usd.issuer: "USD-ISSUER", fake_issuer: "FAKE-ISSUER"}
    return world


EXPECTED = {
    "hash": ("matched", "hash"), "send": ("matched", "send"), "twice_first": ("matched", "twice"),
    "twice_second": ("unmatched", None), "no_memo": ("unmatched", None), "unknown_memo": ("unmatched", None),
    "look_alike": ("rejected", None), "failed": ("rejected", None), "expired": ("late", None),
    "incomplete": ("late", None), "internal": ("internal", None), "overpaid": ("overpaid", "over"),
    "path": ("matched", "pp"), "mx_to_g": ("matched", "mx_g"), "mx_to_m": ("matched", "mx_m"),
    "ambiguous": ("ambiguous", None), "wrong_code": ("rejected", None),
}


@pytest.fixture
def hold_eurc(db: str) -> None:
    """EURC amounts are held for a person, everything else accepted (as Polaris)."""
    config.configure(config.get_settings().replace(amount_policy=(("EURC", "hold"), ("*", "accept"))))


Changes = Callable[[], Counter[tuple[str, str]]]


@pytest.fixture
def status_changes(caplog: pytest.LogCaptureFixture) -> Iterator[Changes]:
    """Every committed move, counted from the transitions' log: (transaction id, new status)."""
    with caplog.at_level(logging.INFO, logger="anchor_dramatiq.transitions"):
        yield lambda: Counter((str(r.args[0]), str(r.args[2])) for r in caplog.records
                              if r.name == "anchor_dramatiq.transitions" and isinstance(r.args, tuple))


def moved_once(withdrawals: list[Transaction]) -> Counter[tuple[str, str]]:
    return Counter({(str(w.id), "pending_anchor"): 1 for w in withdrawals})


def test_a_mixed_batch_settles_each_payment_as_the_one_at_a_time_path(hold_eurc: None) -> None:
    one_by_one = mixed_world()
    for _, operation_id in one_by_one.payments:
        process_payment(operation_id)
    batched = mixed_world()
    settled = process_payments([op for _, op in batched.payments])

    expected = one_by_one.outcomes()
    assert {name: (outcome, linked) for name, (outcome, linked, _) in expected.items()} == EXPECTED
    assert batched.outcomes() == expected  # outcome, linked withdrawal and reason, payment by payment
    assert not settled.missing and not settled.raced
    assert {batched.named(str(t)) for t in settled.matched.values()} == {
        "hash", "send", "twice", "pp", "mx_g", "mx_m"}
    for name, withdrawal in batched.withdrawals.items():
        mine = Transaction.get_by_id(withdrawal.id)
        theirs = Transaction.get_by_id(one_by_one.withdrawals[name].id)
        assert (mine.status, mine.amount_in) == (theirs.status, theirs.amount_in), name


def test_a_payment_in_two_batches_is_settled_once(db: str, status_changes: Changes) -> None:
    asset, account = make_asset()
    withdrawals = [make_withdrawal(asset, account, memo=f"m{i}") for i in range(3)]
    records = [payment_record(account, asset, memo=f"m{i}") for i in range(3)]
    for record in records:
        record_event(record, account)
    first = process_payments([records[0]["id"], records[1]["id"]])
    settled_at = Payment.get(Payment.operation_id == records[1]["id"]).processed_at
    second = process_payments([records[1]["id"], records[2]["id"], records[1]["id"]])
    assert first.matched == {records[0]["id"]: withdrawals[0].id, records[1]["id"]: withdrawals[1].id}
    assert second.matched == {records[2]["id"]: withdrawals[2].id}  # the repeat is a no-op
    assert Payment.get(Payment.operation_id == records[1]["id"]).processed_at == settled_at
    assert status_changes() == moved_once(withdrawals)


def test_a_crash_before_settling_is_recovered_in_a_batch(db: str) -> None:
    asset, account = make_asset()
    crashed = make_withdrawal(asset, account, memo="crash")
    fresh = make_withdrawal(asset, account, memo="new")
    first, second = payment_record(account, asset, memo="crash"), payment_record(account, asset, memo="new")
    for record in (first, second):
        record_event(record, account)
    # A worker moved the transaction, then died before settling the payment row.
    assert transition(crashed.id, ["pending_user_transfer_start"], "pending_anchor", amount_in=Decimal(10),
                      paging_token=first["paging_token"], stellar_transaction_id=first["transaction_hash"])
    settled = process_payments([first["id"], second["id"]])
    assert settled.matched == {first["id"]: crashed.id, second["id"]: fresh.id}
    rows = {p.operation_id: (p.outcome, p.transaction_id) for p in Payment.select()}
    assert rows == {first["id"]: ("matched", crashed.id), second["id"]: ("matched", fresh.id)}


def test_two_workers_with_overlapping_batches_match_each_withdrawal_once(
        db: str, status_changes: Changes) -> None:
    asset, account = make_asset()
    withdrawals = [make_withdrawal(asset, account, memo=f"c{i}") for i in range(40)]
    records = [payment_record(account, asset, memo=f"c{i}") for i in range(40)]
    records += [payment_record(account, asset, "2", memo=f"c{i}") for i in range(10)]  # paid twice
    for record in records:
        record_event(record, account)
    ids = [r["id"] for r in records]
    batches = {"forward": [ids[i:i + 10] for i in range(0, len(ids), 10)],
               "shifted": [ids[i:i + 7] for i in range(3, len(ids), 7)] + [ids[:3]]}
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            barrier.wait()
            for batch in batches[name]:
                while process_payments(batch).raced:  # Dramatiq's retry
                    pass
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(name,)) for name in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert status_changes() == moved_once(withdrawals)
    payments = {p.operation_id: p for p in Payment.select()}
    assert {p.outcome for p in payments.values()} == {"matched", "unmatched"}
    matched = Counter(p.transaction_id for p in payments.values() if p.outcome == "matched")
    assert matched == Counter({w.id: 1 for w in withdrawals})
    for withdrawal in withdrawals:  # the withdrawal carries the payment matched to it
        row = Transaction.get_by_id(withdrawal.id)
        [winner] = [p for p in payments.values() if p.transaction_id == row.id and p.outcome == "matched"]
        assert (row.paging_token, row.amount_in) == (winner.paging_token, winner.amount)


def statements(caplog: pytest.LogCaptureFixture, run: Callable[[], object]) -> list[str]:
    """The SQL statements ``run`` sent, from peewee's query log."""
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="peewee"):
        run()
    return [record.msg[0] for record in caplog.records if record.name == "peewee"]


MOVE_GUARD = 'SELECT "t1"."id", "t1"."status" FROM "polaris_transaction"'


def is_announcement(statement: str) -> bool:
    """The read of the moved rows handed to the status listeners after the commit (one for the
    batch's moves, when listeners are registered: ``transitions.announce``)."""
    return (statement.startswith('SELECT "t1"."id", ') and not statement.startswith(MOVE_GUARD)
            and 'FROM "polaris_transaction"' in statement and '("t1"."id" IN (' in statement)


def matching_selects(sql: list[str]) -> list[str]:
    """The SELECTs that look payments and transactions up (not those of the moves)."""
    return [s for s in sql if s.startswith("SELECT") and not s.startswith(MOVE_GUARD)
            and not is_announcement(s)]


@pytest.mark.parametrize("size", [10, 100])
def test_a_batch_looks_things_up_in_a_bounded_number_of_queries(
        db: str, caplog: pytest.LogCaptureFixture, size: int) -> None:
    asset, account = make_asset()
    for i in range(size):
        make_withdrawal(asset, account, memo=f"q{i}")
    records = [payment_record(account, asset, memo=f"q{i}") for i in range(size)]
    records += [payment_record(account, asset, memo=f"nobody{i}") for i in range(size)]
    for record in records:
        record_event(record, account)
    sql = statements(caplog, lambda: process_payments([r["id"] for r in records]))
    # payments, candidates, issuers, finished matches, and finished matches for the unmatched
    assert len(matching_selects(sql)) == 5, matching_selects(sql)
    # the batch's moves together: one guarded read of every matched transaction, then one
    # guarded UPDATE each, in one commit; then at most one read for the listeners
    assert len([s for s in sql if s.startswith(MOVE_GUARD)]) == 1
    assert len([s for s in sql if s.startswith('UPDATE "polaris_transaction"')]) == size
    assert len([s for s in sql if is_announcement(s)]) <= 1
    assert Payment.select().where(Payment.outcome == "matched").count() == size


def test_the_actor_matches_a_batch_end_to_end_on_rabbitmq(
        broker_url: str, process_env: dict[str, str], start: Callable[..., Process]) -> None:
    asset, account = make_asset()
    withdrawals = [make_withdrawal(asset, account, memo=f"e{i}") for i in range(5)]
    records = [payment_record(account, asset, str(10 + i), memo=f"e{i}") for i in range(5)]
    make_withdrawal(asset, account, memo="look")  # stays waiting: the look-alike does not pay it
    look_alike = payment_record(account, asset, memo="look", issuer=Keypair.random().public_key)
    for record in [*records, look_alike]:
        record_event(record, account)
    ids = [r["id"] for r in records] + [look_alike["id"]]
    start(workers_argv(processes=1, threads=2), process_env, "workers")
    broker = RabbitmqBroker(url=broker_url, confirm_delivery=True)
    try:
        for batch in (ids[:4], ids[2:]):  # overlapping batches, as a replay would send
            broker.enqueue(dramatiq.Message(queue_name=Queue.PAYMENTS, actor_name=ActorName.PROCESS_PAYMENTS,
                                            args=(batch,), kwargs={}, options={}))
        wait_until(lambda: {t.status for t in Transaction.select().where(
            Transaction.id.in_([w.id for w in withdrawals]))} == {"pending_external"}, 60,
                   "every withdrawal matched and paid out")
    finally:
        broker.close()
    outcomes = {p.operation_id: p.outcome for p in Payment.select()}
    assert outcomes == {**{r["id"]: "matched" for r in records}, look_alike["id"]: "rejected"}
    assert sorted(calls(Path(process_env["ANCHOR_TEST_RAILS_LOG"]))) == sorted(str(w.id) for w in withdrawals)
    for i, withdrawal in enumerate(withdrawals):
        assert Transaction.get_by_id(withdrawal.id).amount_in == Decimal(10 + i)


def test_the_actor_pays_out_matches_refunds_rejections_and_fails_for_unrecorded_ids(
        db: str, broker: dramatiq.Broker) -> None:
    import actors.payments

    config.configure(config.get_settings().replace(refund_rejected=True))
    asset, account = make_asset()
    paid = make_withdrawal(asset, account, memo="a")
    make_withdrawal(asset, account, memo="b")
    good = payment_record(account, asset, memo="a")
    look_alike = payment_record(account, asset, memo="b", issuer=Keypair.random().public_key)
    for record in (good, look_alike):
        record_event(record, account)
    with pytest.raises(PermanentError, match="4242 are not recorded"):
        actors.payments.process_payments.fn([good["id"], look_alike["id"], "4242"])
    assert broker.queues[Queue.WITHDRAWALS].qsize() == 1  # execute_outgoing for the match
    [refund] = Refund.select()
    assert (refund.payment.operation_id, refund.requested_by) == (look_alike["id"], "ANCHOR_REFUND_REJECTED")
    assert broker.queues[Queue.STELLAR].qsize() == 1  # refund_payment
    actors.payments.process_payments.fn([good["id"], look_alike["id"]])  # redelivered: nothing new
    assert (broker.queues[Queue.WITHDRAWALS].qsize(), Refund.select().count()) == (1, 1)
    assert Transaction.get_by_id(paid.id).status == "pending_anchor"


@pytest.mark.parametrize("garbage", ["4242", [4242], {"ids": []}])
def test_the_actor_refuses_a_body_that_is_not_a_list_of_ids(db: str, broker: dramatiq.Broker,
                                                              garbage: object) -> None:
    import actors.payments

    with pytest.raises(PermanentError, match="list of operation ids"):
        actors.payments.process_payments.fn(garbage)


def test_a_worker_dying_before_the_rows_are_written_loses_nothing(
        db: str, status_changes: Changes, monkeypatch: pytest.MonkeyPatch) -> None:
    """The transactions of a pass moved, then the worker died before its payment rows were
    written: the redelivered batch recognises every move and matches nothing twice."""
    import anchor_dramatiq.payments.process as process

    asset, account = make_asset()
    withdrawals = [make_withdrawal(asset, account, memo=f"d{i}") for i in range(4)]
    records = [payment_record(account, asset, memo=f"d{i}") for i in range(4)]
    records.append(payment_record(account, asset, "2", memo="d0"))  # a second payment for d0
    for record in records:
        record_event(record, account)
    ids = [r["id"] for r in records]
    real_settle = process._settle

    def die(settlements: list) -> None:
        raise ConnectionError("worker killed")

    monkeypatch.setattr(process, "_settle", die)
    with pytest.raises(ConnectionError):
        process_payments(ids)
    assert {p.outcome for p in Payment.select()} == {"pending"}
    monkeypatch.setattr(process, "_settle", real_settle)
    settled = process_payments(ids)  # the message, redelivered
    assert settled.matched == {r["id"]: w.id for r, w in zip(records, withdrawals, strict=False)}
    outcomes = {p.operation_id: (p.outcome, p.transaction_id) for p in Payment.select()}
    assert outcomes == {**{r["id"]: ("matched", w.id) for r, w in zip(records, withdrawals, strict=False)},
                        records[4]["id"]: ("unmatched", None)}
    assert status_changes() == moved_once(withdrawals)


def test_a_transaction_changed_before_the_batch_commit_is_decided_again_one_at_a_time(
        db: str, status_changes: Changes, monkeypatch: pytest.MonkeyPatch) -> None:
    """The API server moves a withdrawal between the snapshot and the batch's commit: nothing
    of that commit is kept, and the batch is decided again from a fresh snapshot."""
    asset, account = make_asset()
    withdrawals = [make_withdrawal(asset, account, memo=f"r{i}") for i in range(3)]
    records = [payment_record(account, asset, memo=f"r{i}") for i in range(3)]
    for record in records:
        record_event(record, account)
    together = process_module.transition_all
    attempts: list[bool] = []

    def meanwhile(moves: list) -> bool:
        if not attempts:
            assert transition(withdrawals[1].id, ["pending_user_transfer_start"], "error")
        attempts.append(together(moves))
        return attempts[-1]

    monkeypatch.setattr(process_module, "transition_all", meanwhile)
    settled = process_payments([r["id"] for r in records])
    assert attempts == [False]
    assert set(settled.matched) == {records[0]["id"], records[2]["id"]}
    outcomes = {p.operation_id: (p.outcome, p.transaction_id) for p in Payment.select()}
    assert outcomes[records[0]["id"]] == ("matched", withdrawals[0].id)
    assert outcomes[records[1]["id"]][0] == "unmatched"
    assert outcomes[records[2]["id"]] == ("matched", withdrawals[2].id)
    assert status_changes() == Counter({(str(withdrawals[0].id), "pending_anchor"): 1,
                                        (str(withdrawals[1].id), "error"): 1,
                                        (str(withdrawals[2].id), "pending_anchor"): 1})
