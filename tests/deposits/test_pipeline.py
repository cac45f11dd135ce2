"""The deposit pipeline: full batches on leased channels, asynchronous submission, settled by
hash, one transaction per channel at a time, surges drained without a tight loop."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from decimal import Decimal

import pytest
from support.anchor import make_anchor

import anchor_dramatiq.deposits as deposits_api
from anchor_dramatiq import config, observe
from anchor_dramatiq.deposits import pay_ready, settle_batch
from anchor_dramatiq.models import Channel, Submission, SubmissionItem, Transaction
from anchor_dramatiq.stellar import channels
from simnet import Simnet


def row(deposit: Transaction) -> Transaction:
    return Transaction.get_by_id(deposit.id)


def deposit_submissions() -> list[Submission]:
    return list(Submission.select().where(Submission.purpose == "deposit").order_by(Submission.id))


def paid_once_each(anchor, wallets_amounts: list[tuple[str, str]]) -> None:
    """Every wallet received exactly its deposit, in one payment (read from the ledger)."""
    for wallet, amount in wallets_amounts:
        assert anchor.balance(wallet) == Decimal(amount)
        assert len(anchor.payments_to(wallet)) == 1


def test_batch_with_one_bad_destination_pays_the_others_once_and_routes_the_bad_one(anchor, run_workers,
                                                                                  network_api):
    channels.create(anchor.network(), anchor.distribution, 2, anchor.settings)
    good = [(anchor.wallet().public_key, str(3 + i)) for i in range(5)]
    full = anchor.wallet(trust=False)
    anchor.submit(full, lambda b: b.append_change_trust_op(anchor.sdk_asset, limit="2"))
    deposits = [anchor.deposit(wallet, amount) for wallet, amount in good[:3]]
    bad = anchor.deposit(full.public_key, "5")  # more than its trustline's limit: op_line_full
    deposits += [anchor.deposit(wallet, amount) for wallet, amount in good[3:]]

    assert pay_ready() == "pending"  # one batch of all six, handed to core; the worker is free
    first = deposit_submissions()
    assert len(first) == 1 and first[0].items.count() == 6 and first[0].channel is not None

    run_workers(lambda: all(row(d).status == "completed" for d in deposits)
                and row(bad).status == "error")
    failed, *rest = deposit_submissions()
    assert failed.state == "failed" and '"op_line_full"' in failed.result_codes
    assert "op_line_full" in row(bad).status_message and failed.hash in row(bad).status_message
    paid_once_each(anchor, good)
    assert anchor.balance(full.public_key) == Decimal(0) and not anchor.payments_to(full.public_key)
    succeeded = [s for s in rest if s.state == "succeeded"]
    paying = Counter(i.transaction_id for s in succeeded for i in s.items)
    assert paying == Counter({d.id: 1 for d in deposits})  # each good deposit in one landed envelope
    for deposit in deposits:
        assert row(deposit).stellar_transaction_id in {s.hash for s in succeeded}
    assert Channel.select().where(Channel.lease_owner.is_null(False)).count() == 0


def test_a_channel_with_a_transaction_in_flight_is_never_handed_a_second(db, broker):
    with Simnet(ledger_interval=0.1, submission_timeout=3.0) as sim:
        settings = config.get_settings().replace(horizon_url=sim.url, horizon_timeout=2.0,
                                                 network_passphrase=sim.network.passphrase,
                                                 claim_timeout=30, batch_size=5)
        config.configure(settings)
        anchor = make_anchor(sim, settings)
        channels.create(anchor.network(), anchor.distribution, 1, settings)
        wallets = [anchor.wallet() for _ in range(10)]
        deposits = [anchor.deposit(w.public_key, "1") for w in wallets]
        sim.network.ledger_interval = 3600  # from the next close on, ledgers close by hand
        sim.wait_for_ledgers(1)

        assert pay_ready(settings) == "pending"  # in core's queue; the ledger has not closed
        assert pay_ready(settings) == "no free channel"
        assert pay_ready(settings) == "no free channel"
        (first,) = deposit_submissions()
        assert first.state == "submitted" and first.items.count() == 5
        waiting = [d for d in deposits if row(d).submission_status == "ready"]
        assert len(waiting) == 5  # the rest wait for the channel, unclaimed

        sim.close_ledger()
        assert settle_batch(first.id, settings) == "succeeded"  # settled, released: a refill is sent
        assert pay_ready(settings) == "pending"  # what that refill does
        first, second = deposit_submissions()
        assert first.state == "succeeded" and second.state == "submitted"
        assert second.channel == first.channel and second.sequence == first.sequence + 1
        assert pay_ready(settings) == "no free channel"  # still one envelope at a time

        sim.close_ledger()
        assert settle_batch(second.id, settings) == "succeeded"
        assert all(row(d).status == "completed" for d in deposits)
        assert len(deposit_submissions()) == 2
        for wallet in wallets:
            assert anchor.balance(wallet.public_key) == Decimal(1)
        # What `anchor-dramatiq status` shows: the one channel carried a transaction in
        # each of the two ledgers; 5 payments of 100 stroops per envelope.
        report = observe.deposit_pipeline()
        assert report["envelopes"] == 2 and report["ledgers"] == 2 and report["utilisation"] == 1.0
        assert report["deposits_per_ledger"] == 5.0 and report["fee_stroops_per_deposit"] == 100


@pytest.fixture
def surge_sim() -> Iterator[Simnet]:
    # One 5-operation transaction fits per ledger; four channels want four per ledger.
    with Simnet(ledger_interval=0.2, ledger_capacity=5, submission_timeout=5.0) as sim:
        yield sim


def test_a_surge_drains_without_a_tight_loop(db, broker, surge_sim, run_workers, monkeypatch):
    sim = surge_sim
    settings = config.get_settings().replace(horizon_url=sim.url, horizon_timeout=2.0,
                                             network_passphrase=sim.network.passphrase,
                                             claim_timeout=30, batch_size=5)
    config.configure(settings)
    anchor = make_anchor(sim, settings)
    channels.create(anchor.network(), anchor.distribution, 4, settings)
    looks: list[int] = []
    real_settle = deposits_api.settle_batch
    monkeypatch.setattr(deposits_api, "settle_batch",
                        lambda submission_id: (looks.append(submission_id), real_settle(submission_id))[1])
    wallets = [anchor.wallet().public_key for _ in range(8)]
    deposits = [anchor.deposit(wallets[i % 8], "1") for i in range(40)]
    first_ledger = sim.latest_ledger
    for _ in range(4):
        pay_ready(settings)  # four channels, four envelopes, room for one per ledger

    run_workers(lambda: all(row(d).status == "completed" for d in deposits), timeout=60)
    ledgers = sim.latest_ledger - first_ledger
    landed = [s for s in deposit_submissions() if s.state == "succeeded"]
    assert len(landed) == 8 and all(s.items.count() == 5 for s in landed)
    per_ledger = Counter(s.ledger for s in landed)
    assert max(per_ledger.values()) == 1  # the ledger was full: one envelope each
    assert any(s.attempts > 1 for s in landed)  # some waited in core's queue (looked at again)
    # Looks back off (1, 2, 4, ... ledgers): far fewer than one per envelope per ledger.
    assert len(looks) <= 3 * len(landed)
    assert max(s.attempts for s in landed) <= 4
    assert len(looks) < ledgers * 4
    for wallet in wallets:
        assert anchor.balance(wallet) == Decimal(5)
        assert len(anchor.payments_to(wallet)) == 5
    items = Counter(i.transaction_id for s in landed for i in SubmissionItem.select().where(
        SubmissionItem.submission == s))
    assert set(items.values()) == {1}


def test_channels_ensure_creates_the_missing_and_tops_up_the_low(anchor, network_api):
    (first,) = channels.create(anchor.network(), anchor.distribution, 1, anchor.settings,
                               starting_balance="1.5")
    created, topped = channels.ensure(anchor.network(), anchor.distribution, 3, anchor.settings,
                                      starting_balance="2", minimum_balance="1.6")
    assert len(created) == 2 and topped == [first]
    assert Channel.select().count() == 3
    assert anchor.sim.balance(first) == Decimal(2)
    assert all(anchor.sim.balance(key) == Decimal(2) for key in created)
    assert channels.ensure(anchor.network(), anchor.distribution, 3, anchor.settings,
                           minimum_balance="1.6") == ([], [])  # nothing to do twice


def test_no_answer_after_the_envelope_is_stored_leaves_the_deposits_with_it(db, broker, monkeypatch):
    """The pace read for the next look fails (Horizon or RPC answered 429): the stored envelope
    may be in flight, so its deposits stay with it instead of going back to ready."""
    import anchor_dramatiq.deposits.pipeline as pipeline
    from anchor_dramatiq.errors import NoAnswer

    with Simnet(ledger_interval=0.2, submission_timeout=3.0) as sim:
        settings = config.get_settings().replace(horizon_url=sim.url, horizon_timeout=2.0,
                                                 network_passphrase=sim.network.passphrase,
                                                 claim_timeout=30, batch_size=5)
        config.configure(settings)
        anchor = make_anchor(sim, settings)
        channels.create(anchor.network(), anchor.distribution, 1, settings)
        wallets = [anchor.wallet() for _ in range(3)]
        deposits = [anchor.deposit(w.public_key, "2") for w in wallets]

        def no_answer(network, submission):
            raise NoAnswer("429 on /ledgers")

        monkeypatch.setattr(pipeline, "next_look_ms", no_answer)
        assert pay_ready(settings) == "pending"
        (stored,) = deposit_submissions()
        assert stored.items.count() == 3
        assert all(row(d).submission_status != "ready" for d in deposits)  # still the envelope's
        assert pay_ready(settings) == "no free channel"  # the channel stays with it too
        assert settle_batch(stored.id, settings) == "pending"  # no answer: looked at again later
        assert all(row(d).submission_status != "ready" for d in deposits)
        monkeypatch.undo()
        sim.wait_for_ledgers(2)
        assert settle_batch(stored.id, settings) == "succeeded"
        assert all(row(d).status == "completed" for d in deposits)
        for wallet in wallets:
            assert anchor.balance(wallet.public_key) == Decimal(2)
