"""submit_deposit on simnet: every Polaris case, checked in the database and on the ledger."""

from __future__ import annotations

from decimal import Decimal

from anchor_dramatiq.deposits import submit_deposit
from anchor_dramatiq.models import Submission, SubmissionItem, Transaction


def reload(transaction: Transaction) -> Transaction:
    return Transaction.get_by_id(transaction.id)


def test_pays_a_ready_deposit_once(anchor):
    wallet = anchor.wallet()
    deposit = anchor.deposit(wallet.public_key, "12.5")
    assert submit_deposit(deposit.id) == "succeeded"
    row = reload(deposit)
    assert row.status == "completed" and row.submission_status == "completed"
    assert row.amount_out == Decimal("12.5") and row.completed_at is not None
    submission = Submission.get()
    assert row.stellar_transaction_id == submission.hash and row.paging_token == submission.paging_token
    assert submission.state == "succeeded" and submission.ledger
    assert anchor.balance(wallet.public_key) == Decimal("12.5")
    assert len(anchor.payments_to(wallet.public_key)) == 1
    # A second message for the same deposit is a no-op.
    assert submit_deposit(deposit.id) == "nothing to do"
    assert len(anchor.payments_to(wallet.public_key)) == 1


def test_batch_pays_several_deposits_in_one_transaction(anchor):
    wallets = [anchor.wallet() for _ in range(3)]
    deposits = [anchor.deposit(w.public_key, f"{i + 1}") for i, w in enumerate(wallets)]
    assert submit_deposit(deposits[0].id) == "succeeded"
    submission = Submission.get()
    assert SubmissionItem.select().where(SubmissionItem.submission == submission).count() == 3
    for i, (wallet, deposit) in enumerate(zip(wallets, deposits, strict=True)):
        row = reload(deposit)
        assert row.status == "completed" and row.stellar_transaction_id == submission.hash
        assert anchor.balance(wallet.public_key) == Decimal(i + 1)
        assert len(anchor.payments_to(wallet.public_key)) == 1


def test_memo_and_muxed_destination(anchor):
    from stellar_sdk import MuxedAccount

    wallet = anchor.wallet()
    muxed = MuxedAccount(wallet.public_key, 42).account_muxed
    deposit = anchor.deposit(muxed, "3", memo="12345", memo_type="id")
    other = anchor.deposit(anchor.wallet().public_key, "4")
    assert submit_deposit(deposit.id) == "succeeded"
    record = anchor.sim.transaction(reload(deposit).stellar_transaction_id)
    assert record["memo_type"] == "id" and str(record["memo"]) == "12345"
    assert anchor.balance(wallet.public_key) == Decimal(3)
    [payment] = anchor.payments_to(wallet.public_key)
    assert payment["to_muxed"] == muxed and str(payment["to_muxed_id"]) == "42"
    # A deposit with a memo is paid alone: the other one was not batched with it.
    assert reload(other).status == "pending_anchor" and reload(other).submission_status == "ready"


def test_missing_account_is_created_then_waits_for_trust(anchor):
    from anchor_dramatiq.deposits import check_trustlines

    wallet = anchor.wallet(fund=False)
    deposit = anchor.deposit(wallet.public_key, "5")
    assert submit_deposit(deposit.id) == "succeeded"
    row = reload(deposit)
    assert row.status == "pending_trust" and row.submission_status == "pending_trust"
    assert anchor.sim.balance(wallet.public_key) == anchor.settings.account_starting_balance
    anchor.submit(wallet, lambda b: b.append_change_trust_op(anchor.sdk_asset))
    assert check_trustlines(anchor.settings) == 1
    row = reload(deposit)
    assert row.status == "pending_anchor" and row.submission_status == "ready"
    assert submit_deposit(deposit.id) == "succeeded"
    assert reload(deposit).status == "completed"
    assert anchor.balance(wallet.public_key) == Decimal(5)
    assert len(anchor.payments_to(wallet.public_key)) == 1


def test_missing_account_without_account_creation_waits_in_pending_user(anchor):
    from anchor_dramatiq.deposits import check_trustlines

    settings = anchor.settings.replace(account_creation=False)
    wallet = anchor.wallet(fund=False)
    deposit = anchor.deposit(wallet.public_key, "5")
    assert submit_deposit(deposit.id, settings) == "not payable now"
    row = reload(deposit)
    assert row.status == "pending_user" and row.submission_status == "pending_funding"
    assert Submission.select().count() == 0 and anchor.sim.account(wallet.public_key) is None
    anchor.sim.friendbot(wallet.public_key)
    anchor.submit(wallet, lambda b: b.append_change_trust_op(anchor.sdk_asset))
    assert check_trustlines(settings) == 1
    assert submit_deposit(deposit.id, settings) == "succeeded"
    assert anchor.balance(wallet.public_key) == Decimal(5)


def test_no_trustline_waits_in_pending_trust(anchor):
    wallet = anchor.wallet(trust=False)
    deposit = anchor.deposit(wallet.public_key, "5")
    assert submit_deposit(deposit.id) == "not payable now"
    row = reload(deposit)
    assert row.status == "pending_trust" and row.submission_status == "pending_trust"
    assert Submission.select().count() == 0 and anchor.balance(wallet.public_key) is None


def test_no_trustline_with_claimable_balance_support(anchor):
    wallet = anchor.wallet(trust=False)
    deposit = anchor.deposit(wallet.public_key, "6", claimable_balance_supported=True)
    assert submit_deposit(deposit.id) == "succeeded"
    row = reload(deposit)
    assert row.status == "completed" and row.claimable_balance_id
    with anchor.server() as server:
        balance = server.claimable_balances().claimable_balance(row.claimable_balance_id).call()
    assert Decimal(balance["amount"]) == Decimal(6)
    assert balance["claimants"][0]["destination"] == wallet.public_key


def test_underfunded_distribution_blocks_without_spinning(anchor):
    wallet = anchor.wallet()
    deposit = anchor.deposit(wallet.public_key, "2000000")
    assert submit_deposit(deposit.id) == "not payable now"
    row = reload(deposit)
    assert row.status == "pending_anchor" and row.submission_status == "blocked"
    assert "not enough" in row.status_message
    assert submit_deposit(deposit.id) == "held elsewhere"
    assert Submission.select().count() == 0 and anchor.balance(wallet.public_key) == 0
