"""A deposit is paid exactly once against a hostile network: an envelope is declared dead
only on a Horizon node's evidence, never on a 404, a 429, a lagging node or a refusal."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from stellar_sdk import Asset as SdkAsset
from stellar_sdk import Keypair

from anchor_dramatiq.db import database
from anchor_dramatiq.deposits import submit_deposit
from anchor_dramatiq.errors import NoAnswer
from anchor_dramatiq.migrate import MIGRATIONS, migrate
from anchor_dramatiq.models import SchemaVersion, Submission, Transaction
from anchor_dramatiq.stellar import submission as protocol

from .test_faults import paid_once


def wait_out_grace(anchor) -> None:
    """Past the submitting worker's grace, so the next look settles by hash."""
    time.sleep(anchor.settings.horizon_timeout + 1.2)


def live_and_alone() -> Submission:
    [stored] = Submission.select()
    assert stored.state == "submitted" and stored.max_ledger
    return stored


def test_envelope_carries_and_stores_its_ledger_bound(anchor, network_api):
    wallet = anchor.wallet()
    deposit = anchor.deposit(wallet.public_key, "1")
    before = anchor.sim.latest_ledger
    assert submit_deposit(deposit.id) == "succeeded"
    stored = Submission.get()
    envelope = protocol.parse_envelope(stored.envelope_xdr, anchor.settings.network_passphrase)
    bounds = envelope.transaction.preconditions.ledger_bounds
    assert bounds.max_ledger == stored.max_ledger > before + 2
    paid_once(anchor, wallet, deposit, "1")


def test_404_window_while_settling_an_applied_504(anchor):
    wallet = anchor.wallet()
    deposit = anchor.deposit(wallet.public_key, "6")
    anchor.sim.add_fault("submit_timeout", applied=True, count=1)
    assert submit_deposit(deposit.id) == "pending"
    for path in ("/ledgers", "/accounts/", "/transactions/"):  # a load balancer, no backend
        anchor.sim.add_fault("read_error", status=404, match=path)
    anchor.sim.add_fault("resubmit_refused", code="tx_too_late")
    wait_out_grace(anchor)
    assert submit_deposit(deposit.id) == "pending"
    assert live_and_alone().attempts == 2  # sent again (same envelope), nothing rebuilt
    anchor.sim.clear_faults()
    wait_out_grace(anchor)
    assert submit_deposit(deposit.id) == "succeeded"
    assert submit_deposit(deposit.id) == "nothing to do"
    paid_once(anchor, wallet, deposit, "6")


@pytest.mark.parametrize("answer", ["tx_too_late", "tx_bad_seq", "429", "403"])
def test_refused_resubmission_of_an_applied_envelope(anchor, answer):
    wallet = anchor.wallet()
    deposit = anchor.deposit(wallet.public_key, "5")
    anchor.sim.add_fault("submit_timeout", applied=True, count=1)
    assert submit_deposit(deposit.id) == "pending"
    anchor.sim.add_fault("lagging_node", ledgers=100_000)  # its hash is not found for now
    if answer.startswith("tx_"):
        anchor.sim.add_fault("resubmit_refused", code=answer)
    else:
        anchor.sim.add_fault("submit_rejected", status=int(answer))
    wait_out_grace(anchor)
    assert submit_deposit(deposit.id) == "pending"
    live_and_alone()
    row = Transaction.get_by_id(deposit.id)
    assert row.status == "pending_anchor" and row.submission_status == "processing"
    anchor.sim.clear_faults()
    wait_out_grace(anchor)
    assert submit_deposit(deposit.id) == "succeeded"
    paid_once(anchor, wallet, deposit, "5")


def test_lagging_node_with_the_sequence_already_used(anchor):
    wallet = anchor.wallet()
    deposit = anchor.deposit(wallet.public_key, "4")
    anchor.sim.add_fault("submit_timeout", applied=True, count=1)
    assert submit_deposit(deposit.id) == "pending"
    stored = Submission.get()
    anchor.sim.wait_for_ledgers(2)
    # The hash lookups come from a node far behind; the account reads are current and show
    # the envelope's sequence used (by the envelope itself).
    anchor.sim.add_fault("lagging_node", ledgers=100_000)
    with anchor.server() as server:
        current = server.accounts().account_id(stored.source_account).call()
    assert int(current["sequence"]) >= stored.sequence
    anchor.sim.add_fault("resubmit_refused", code="tx_bad_seq")
    wait_out_grace(anchor)
    assert submit_deposit(deposit.id) == "pending"
    live_and_alone()
    anchor.sim.clear_faults()
    anchor.sim.add_fault("lagging_node", ledgers=100_000)  # resubmission answers its result
    wait_out_grace(anchor)
    assert submit_deposit(deposit.id) == "succeeded"
    paid_once(anchor, wallet, deposit, "4")


def drain_native(anchor, keep_stroops: int) -> None:
    """Leave the distribution account ``keep_stroops`` of XLM above its minimum balance."""
    native = SdkAsset.native()
    balance = anchor.sim.balance(anchor.distribution.public_key)
    spare = balance - Decimal("1.5") - Decimal("0.00001") - Decimal(keep_stroops) / 10**7
    anchor.submit(anchor.distribution,
                  lambda b: b.append_payment_op(anchor.issuer.public_key, native, str(spare)))


def test_refused_fee_bump_is_held_then_paid_once_after_unblock(anchor):
    wallet = anchor.wallet()
    deposit = anchor.deposit(wallet.public_key, "9")
    protocol.network_fee(anchor.network(), anchor.settings, fresh=True)  # cache today's 100 stroops
    drain_native(anchor, 1000)  # pays no fee-bump of 2 x 1000 stroops
    anchor.sim.call(lambda: setattr(anchor.sim.network, "base_fee", 1000))
    anchor.sim.wait_for_ledgers(2)
    try:
        assert submit_deposit(deposit.id) == "blocked"
        row = Transaction.get_by_id(deposit.id)
        assert row.status == "pending_anchor" and row.submission_status == "blocked"
        assert "tx_insufficient_balance" in row.status_message
        original, bump = Submission.select().order_by(Submission.id)
        assert original.state == bump.state == "submitted" and bump.inner_hash == original.hash
        wait_out_grace(anchor)
        assert submit_deposit(deposit.id) == "blocked"  # the sweep's look sends nothing
        assert Submission.get_by_id(bump.id).attempts == 1
        # The surge passes; the operator funds the account paying the fee and unblocks.
        anchor.sim.call(lambda: setattr(anchor.sim.network, "base_fee", 100))
        funder = anchor.wallet(trust=False)
        anchor.submit(funder, lambda b: b.append_payment_op(
            anchor.distribution.public_key, SdkAsset.native(), "100"))
        Transaction.update(submission_status="unblocked").where(Transaction.id == deposit.id).execute()
        assert submit_deposit(deposit.id) == "succeeded"
    finally:
        anchor.sim.call(lambda: setattr(anchor.sim.network, "base_fee", 100))
    assert submit_deposit(deposit.id) == "nothing to do"
    row = Transaction.get_by_id(deposit.id)
    assert row.status == "completed" and row.stellar_transaction_id == bump.hash
    assert Submission.get_by_id(original.id).state == "expired"
    assert anchor.balance(wallet.public_key) == Decimal(9)
    assert len(anchor.payments_to(wallet.public_key)) == 1


@pytest.mark.parametrize(("fields", "named"), [
    ({"memo": "not-a-number", "memo_type": "id"}, "memo"),
    ({"memo": "c2hvcnQ=", "memo_type": "hash"}, "memo"),
    ({"memo": "x" * 29, "memo_type": "text"}, "memo"),
    ({"memo": "7", "memo_type": "return"}, "memo_type"),
    ({"to_address": "GNOTANACCOUNT"}, "to_address"),
])
def test_unencodable_deposit_ends_in_error_once(anchor, fields, named):
    wallet = anchor.wallet()
    fields = dict(fields)
    deposit = anchor.deposit(fields.pop("to_address", wallet.public_key), "2", **fields)
    assert submit_deposit(deposit.id) == "error"
    row = Transaction.get_by_id(deposit.id)
    assert row.status == "error" and row.submission_status == "failed"
    assert row.status_message.startswith("this deposit cannot be paid on Stellar: " + named)
    assert submit_deposit(deposit.id) == "nothing to do"
    assert Submission.select().count() == 0
    assert anchor.payments_to(wallet.public_key) == []


def test_unencodable_batch_mate_does_not_stop_the_batch(anchor):
    wallet = anchor.wallet()
    good = anchor.deposit(wallet.public_key, "3")
    bad = anchor.deposit("GNOTANACCOUNT", "4")
    assert submit_deposit(good.id) == "succeeded"
    assert Transaction.get_by_id(bad.id).status == "error"
    assert "to_address" in Transaction.get_by_id(bad.id).status_message
    paid_once(anchor, wallet, good, "3")


def test_404_for_an_existing_wallet_account(anchor):
    wallet = anchor.wallet()
    deposit = anchor.deposit(wallet.public_key, "8")
    fault = anchor.sim.add_fault("read_error", status=404, match=f"/accounts/{wallet.public_key}")
    with pytest.raises(NoAnswer):
        submit_deposit(deposit.id)
    row = Transaction.get_by_id(deposit.id)
    assert row.status == "pending_anchor" and row.submission_status == "ready"
    assert Submission.select().count() == 0  # nothing built on a proxy's 404
    anchor.sim.remove_fault(fault)
    assert submit_deposit(deposit.id) == "succeeded"
    assert [i.op_kind for i in Submission.get().items] == ["payment"]
    paid_once(anchor, wallet, deposit, "8")


def test_account_that_appears_before_its_creation_applies(anchor):
    wallet = Keypair.random()  # really missing when the anchor looks
    deposit = anchor.deposit(wallet.public_key, "5")
    anchor.sim.add_fault("latency", seconds=1.0, scope="submit", count=1)
    results: list[str] = []
    worker = threading.Thread(target=lambda: results.append(submit_deposit(deposit.id)))
    worker.start()
    deadline = time.monotonic() + 10
    while not Submission.select().exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    anchor.sim.friendbot(wallet.public_key)  # lands while the create_account is on its way
    anchor.submit(wallet, lambda b: b.append_change_trust_op(anchor.sdk_asset))
    worker.join()
    assert results == ["failed"]
    assert Submission.get().result_codes and "op_already_exists" in Submission.get().result_codes
    row = Transaction.get_by_id(deposit.id)
    assert row.status == "pending_anchor" and row.submission_status == "ready"
    assert submit_deposit(deposit.id) == "succeeded"
    assert Transaction.get_by_id(deposit.id).status == "completed"
    assert anchor.balance(wallet.public_key) == Decimal(5)
    assert len(anchor.payments_to(wallet.public_key)) == 1


def test_migration_adds_max_ledger_to_an_older_schema(db):
    database.execute_sql('ALTER TABLE "anchor_submission" DROP COLUMN "max_ledger"')
    SchemaVersion.delete().where(SchemaVersion.version == 3).execute()
    assert "max_ledger" not in {c.name for c in database.get_columns("anchor_submission")}
    assert migrate() == ["submission_max_ledger"]
    assert "max_ledger" in {c.name for c in database.get_columns("anchor_submission")}
    assert migrate() == []
    assert [m.name for m in MIGRATIONS if m.version == 3] == ["submission_max_ledger"]
