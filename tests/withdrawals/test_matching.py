"""Matching recorded payments to waiting withdrawals and sends, one case per test, both backends."""

from __future__ import annotations

import uuid
from decimal import Decimal

from stellar_sdk import Account as SdkAccount
from stellar_sdk import Asset as SdkAsset
from stellar_sdk import Keypair, MuxedAccount, Network, TransactionBuilder
from support.factories import hash_memo, make_asset, make_withdrawal, payment_record

from anchor_dramatiq.models import Cursor, Payment, Transaction
from anchor_dramatiq.payments.process import process_payment
from anchor_dramatiq.streaming.cursor import record_event
from anchor_dramatiq.transitions import transition


def record_and_process(record: dict, account: str) -> tuple[Payment, uuid.UUID | None]:
    assert record_event(record, account)
    result = process_payment(record["id"])
    return Payment.get(Payment.operation_id == record["id"]), result


def reload(transaction: Transaction) -> Transaction:
    return Transaction.get_by_id(transaction.id)


def test_withdrawal_with_hash_memo_matches(db: str) -> None:
    asset, account = make_asset(significant_decimals=2)
    withdrawal = make_withdrawal(asset, account)
    record = payment_record(account, asset, "10.0050000", memo=withdrawal.memo, memo_type="hash")
    payment, result = record_and_process(record, account)
    assert result == withdrawal.id
    assert (payment.outcome, payment.transaction_id, payment.reason) == ("matched", withdrawal.id, None)
    row = reload(withdrawal)
    assert row.status == "pending_anchor"
    assert row.amount_in == Decimal("10.00")  # 10.005 rounded half-even to the asset's 2 decimals
    assert row.from_address == record["from"]
    assert row.stellar_transaction_id == record["transaction_hash"]
    assert row.paging_token == record["paging_token"]
    assert withdrawal.memo == hash_memo(withdrawal.id)


def test_send_goes_to_pending_receiver(db: str) -> None:
    asset, account = make_asset()
    send = make_withdrawal(asset, account, kind="send", protocol="sep31", memo="4242", memo_type="id")
    payment, _ = record_and_process(payment_record(account, asset, memo="4242", memo_type="id"), account)
    assert payment.outcome == "matched"
    assert reload(send).status == "pending_receiver"


def test_withdrawal_exchange_matches(db: str) -> None:
    asset, account = make_asset()
    exchange = make_withdrawal(asset, account, kind="withdrawal-exchange", memo="ex-1")
    payment, _ = record_and_process(payment_record(account, asset, memo="ex-1"), account)
    assert payment.outcome == "matched"
    assert reload(exchange).status == "pending_anchor"


def test_path_payment_matches_by_delivered_amount(db: str) -> None:
    asset, account = make_asset(significant_decimals=7)
    withdrawal = make_withdrawal(asset, account, memo="pp")
    record = payment_record(account, asset, "7.1234567", memo="pp", op_type="path_payment_strict_send")
    payment, _ = record_and_process(record, account)
    assert payment.outcome == "matched"
    assert reload(withdrawal).amount_in == Decimal("7.1234567")  # not the 99 XLM sent


def test_fee_bump_envelope_memo_is_read_from_the_inner_transaction(db: str) -> None:
    asset, account = make_asset()
    withdrawal = make_withdrawal(asset, account)
    sender, sponsor = Keypair.random(), Keypair.random()
    inner = (TransactionBuilder(SdkAccount(sender.public_key, 1), Network.STANDALONE_NETWORK_PASSPHRASE,
                                base_fee=100)
             .add_hash_memo(bytes.fromhex(withdrawal.id.hex.rjust(64, "0")))
             .append_payment_op(account, SdkAsset(asset.code, asset.issuer), "10")
             .set_timeout(60).build())
    inner.sign(sender)
    bump = TransactionBuilder.build_fee_bump_transaction(sponsor.public_key, 200, inner,
                                                         Network.STANDALONE_NETWORK_PASSPHRASE)
    bump.sign(sponsor)
    tx = {"hash": bump.hash_hex(), "ledger": 1000, "successful": True,
          "envelope_xdr": bump.to_xdr()}  # no memo fields: read from the fee-bump envelope
    payment, _ = record_and_process(payment_record(account, asset, transaction=tx), account)
    assert (payment.memo, payment.memo_type) == (withdrawal.memo, "hash")
    assert payment.outcome == "matched"
    assert reload(withdrawal).status == "pending_anchor"


def test_payment_to_an_m_address_matches_by_memo(db: str) -> None:
    asset, account = make_asset()
    withdrawal = make_withdrawal(asset, account, memo="mux")
    muxed = MuxedAccount(account, 77).account_muxed
    record = payment_record(account, asset, memo="mux", to_muxed=muxed, to_muxed_id="77")
    payment, _ = record_and_process(record, account)
    assert payment.outcome == "matched" and payment.to_muxed == muxed
    assert reload(withdrawal).status == "pending_anchor"


def test_m_address_given_as_receiving_account_matches_by_muxed_id(db: str) -> None:
    asset, account = make_asset()
    muxed = MuxedAccount(account, 991).account_muxed
    withdrawal = make_withdrawal(asset, muxed, memo="991", memo_type="id")
    record = payment_record(account, asset, to_muxed=muxed, to_muxed_id="991")  # no memo at all
    payment, _ = record_and_process(record, account)
    assert payment.outcome == "matched"
    assert reload(withdrawal).status == "pending_anchor"


def test_right_code_different_issuer_is_rejected(db: str) -> None:
    asset, account = make_asset()
    withdrawal = make_withdrawal(asset, account, memo="iss")
    fake_issuer = Keypair.random().public_key
    payment, result = record_and_process(
        payment_record(account, asset, memo="iss", issuer=fake_issuer), account)
    assert result is None
    assert payment.outcome == "rejected" and "issuer" in payment.reason
    assert reload(withdrawal).status == "pending_user_transfer_start"


def test_wrong_asset_code_is_rejected(db: str) -> None:
    asset, account = make_asset()
    withdrawal = make_withdrawal(asset, account, memo="code")
    payment, _ = record_and_process(payment_record(account, asset, memo="code", code="EUR"), account)
    assert payment.outcome == "rejected" and "EUR" in payment.reason
    assert reload(withdrawal).status == "pending_user_transfer_start"


def test_right_memo_wrong_memo_type_is_rejected(db: str) -> None:
    asset, account = make_asset()
    withdrawal = make_withdrawal(asset, account, memo="12345", memo_type="id")
    payment, _ = record_and_process(payment_record(account, asset, memo="12345", memo_type="text"),
                                    account)
    assert payment.outcome == "rejected" and "memo type" in payment.reason
    assert reload(withdrawal).status == "pending_user_transfer_start"


def test_failed_transaction_is_rejected(db: str) -> None:
    asset, account = make_asset()
    withdrawal = make_withdrawal(asset, account, memo="fail")
    payment, _ = record_and_process(payment_record(account, asset, memo="fail", successful=False),
                                    account)
    assert payment.outcome == "rejected" and "failed" in payment.reason
    assert reload(withdrawal).status == "pending_user_transfer_start"


def test_second_payment_with_the_same_memo_is_recorded_unmatched(db: str) -> None:
    asset, account = make_asset()
    withdrawal = make_withdrawal(asset, account, memo="twice")
    first, _ = record_and_process(payment_record(account, asset, memo="twice"), account)
    second, result = record_and_process(payment_record(account, asset, "3", memo="twice"), account)
    assert first.outcome == "matched"
    assert result is None
    assert second.outcome == "unmatched" and str(withdrawal.id) in second.reason
    assert reload(withdrawal).amount_in == Decimal("10")


def test_payment_without_memo_is_unmatched(db: str) -> None:
    asset, account = make_asset()
    withdrawal = make_withdrawal(asset, account, memo="x")
    payment, _ = record_and_process(payment_record(account, asset), account)
    assert (payment.outcome, payment.reason) == ("unmatched", "payment has no memo")
    assert reload(withdrawal).status == "pending_user_transfer_start"


def test_two_waiting_transactions_make_it_ambiguous(db: str) -> None:
    asset, account = make_asset()
    one = make_withdrawal(asset, account, memo="dup")
    two = make_withdrawal(asset, account, memo="dup")
    payment, _ = record_and_process(payment_record(account, asset, memo="dup"), account)
    assert payment.outcome == "ambiguous"
    assert str(one.id) in payment.reason and str(two.id) in payment.reason
    assert {reload(one).status, reload(two).status} == {"pending_user_transfer_start"}


def test_different_amount_still_matches_and_says_so(db: str) -> None:
    asset, account = make_asset()
    withdrawal = make_withdrawal(asset, account, memo="amt", amount_expected=Decimal("10"))
    payment, _ = record_and_process(payment_record(account, asset, "4.5", memo="amt"), account)
    assert payment.outcome == "matched" and "differs" in payment.reason
    row = reload(withdrawal)
    assert (row.amount_in, row.amount_expected) == (Decimal("4.5"), Decimal("10"))


def test_create_account_merge_and_outgoing_are_not_recorded_but_advance_the_cursor(db: str) -> None:
    asset, account = make_asset()
    records = [payment_record(account, asset, op_type="create_account"),
               payment_record(account, asset, op_type="account_merge"),
               payment_record(Keypair.random().public_key, asset, memo="out")]  # paid by the account
    for record in records:
        assert not record_event(record, account)
    assert Payment.select().count() == 0
    assert Cursor.get_by_id(account).paging_token == records[-1]["paging_token"]


def test_duplicate_message_and_replayed_record_change_nothing(db: str) -> None:
    asset, account = make_asset()
    withdrawal = make_withdrawal(asset, account, memo="once")
    record = payment_record(account, asset, memo="once")
    payment, first = record_and_process(record, account)
    assert first == withdrawal.id
    assert not record_event(record, account)  # the stream replays it after a restart
    assert process_payment(record["id"]) is None  # the message is redelivered
    assert Payment.select().count() == 1
    assert Payment.get_by_id(payment.id).outcome == "matched"


def test_crash_between_transition_and_settling_is_recovered(db: str) -> None:
    asset, account = make_asset()
    withdrawal = make_withdrawal(asset, account, memo="crash")
    record = payment_record(account, asset, memo="crash")
    assert record_event(record, account)
    # The first worker moved the transaction, then died before settling the payment row.
    assert transition(withdrawal.id, ["pending_user_transfer_start"], "pending_anchor",
                      paging_token=record["paging_token"],
                      stellar_transaction_id=record["transaction_hash"], amount_in=Decimal(10))
    assert process_payment(record["id"]) == withdrawal.id
    payment = Payment.get(Payment.operation_id == record["id"])
    assert (payment.outcome, payment.transaction_id) == ("matched", withdrawal.id)


def test_cursor_never_moves_backwards(db: str) -> None:
    asset, account = make_asset()
    later = payment_record(account, asset, memo="a")
    earlier = payment_record(account, asset, memo="b")
    earlier["paging_token"] = earlier["id"] = str(int(later["paging_token"]) - 1)
    record_event(later, account)
    record_event(earlier, account)
    assert Cursor.get_by_id(account).paging_token == later["paging_token"]
    assert Payment.select().count() == 2
