"""Bad-input corpus, incoming payments: each hostile or wrong payment gets a recorded outcome.

Every case records Horizon-shaped payment records through the streamer's ``record_event``
and runs the real ``process_payment`` actor body on them (both database backends), then
checks what must always hold: the payment row exists with the expected outcome and a reason
that says why, the stream cursor is past it, and no withdrawal moved except the one the
payment really pays (with what it really delivered).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest
from stellar_sdk import Account as SdkAccount
from stellar_sdk import Asset as SdkAsset
from stellar_sdk import Keypair, MuxedAccount, Network, TransactionBuilder
from support.factories import make_asset, make_withdrawal, payment_record

from anchor_dramatiq.models import Asset, Cursor, Payment, Transaction
from anchor_dramatiq.streaming.cursor import record_event

WAITING = "pending_user_transfer_start"


@dataclass
class World:
    asset: Asset
    account: str
    withdrawal: Transaction  # text memo "w-1", expects 10


Records = Callable[[World], list[dict]]


def _fee_bump(world: World, memo_hex: str | None = None, text: str = "w-1") -> dict:
    sender, sponsor = Keypair.random(), Keypair.random()
    builder = TransactionBuilder(SdkAccount(sender.public_key, 1), Network.STANDALONE_NETWORK_PASSPHRASE,
                                 base_fee=100)
    builder.add_hash_memo(bytes.fromhex(memo_hex)) if memo_hex else builder.add_text_memo(text)
    inner = (builder.append_payment_op(world.account, SdkAsset(world.asset.code, world.asset.issuer), "10")
             .set_timeout(60).build())
    inner.sign(sender)
    bump = TransactionBuilder.build_fee_bump_transaction(sponsor.public_key, 200, inner,
                                                         Network.STANDALONE_NETWORK_PASSPHRASE)
    bump.sign(sponsor)
    tx = {"hash": bump.hash_hex(), "ledger": 1000, "successful": True, "envelope_xdr": bump.to_xdr()}
    return payment_record(world.account, world.asset, transaction=tx)


@dataclass(frozen=True)
class Case:
    records: Records
    outcomes: tuple[str, ...]  # per record
    reason: str | None  # a word the last record's reason must contain (None: no reason)
    matched_amount: Decimal | None = None  # the withdrawal's amount_in if it gets matched


CASES: dict[str, Case] = {
    "fake_issuer": Case(lambda w: [payment_record(w.account, w.asset, memo="w-1",
                                                  issuer=Keypair.random().public_key)],
                        ("rejected",), "issuer"),
    "wrong_asset_code": Case(lambda w: [payment_record(w.account, w.asset, memo="w-1", code="EUR")],
                             ("rejected",), "EUR"),
    "native_xlm_instead_of_the_asset": Case(
        lambda w: [{**payment_record(w.account, w.asset, memo="w-1"), "asset_type": "native",
                    "asset_code": None, "asset_issuer": None}], ("rejected",), "native"),
    "wrong_memo_type_id_for_text": Case(lambda w: [payment_record(w.account, w.asset, memo="w-1",
                                                                  memo_type="id")],
                                        ("rejected",), "memo type"),
    "hash_memo_for_a_text_memo": Case(
        lambda w: [payment_record(w.account, w.asset, memo=base64.b64encode(b"w-1".rjust(32, b"\0")).decode(),
                                  memo_type="hash")], ("unmatched",), "no transaction waits"),
    "memo_of_nobody": Case(lambda w: [payment_record(w.account, w.asset, memo="who-am-i")],
                           ("unmatched",), "no transaction waits"),
    "no_memo": Case(lambda w: [payment_record(w.account, w.asset)], ("unmatched",), "no memo"),
    "reused_memo": Case(lambda w: [payment_record(w.account, w.asset, memo="w-1"),
                                   payment_record(w.account, w.asset, "3", memo="w-1")],
                        ("matched", "unmatched"), "not waiting", Decimal("10")),
    "amount_above_expected": Case(lambda w: [payment_record(w.account, w.asset, "25", memo="w-1")],
                                  ("matched",), "differs", Decimal("25")),
    "amount_below_expected": Case(lambda w: [payment_record(w.account, w.asset, "0.01", memo="w-1")],
                                  ("matched",), "differs", Decimal("0.01")),
    "amount_beyond_asset_decimals": Case(
        lambda w: [payment_record(w.account, w.asset, "10.0049999", memo="w-1")],
        ("matched",), None, Decimal("10.00")),  # rounded as Polaris does; the row keeps 10.0049999
    "failed_transaction": Case(lambda w: [payment_record(w.account, w.asset, memo="w-1", successful=False)],
                               ("rejected",), "failed"),
    "path_payment_delivering_another_asset": Case(
        lambda w: [payment_record(w.account, w.asset, "10", memo="w-1",
                                  op_type="path_payment_strict_receive", code="EURT")],
        ("rejected",), "EURT"),
    "path_payment_delivering_the_asset": Case(
        lambda w: [payment_record(w.account, w.asset, "9.5", memo="w-1", op_type="path_payment_strict_send")],
        ("matched",), "differs", Decimal("9.50")),
    "fee_bump_wrapper": Case(lambda w: [_fee_bump(w)], ("matched",), None, Decimal("10")),
    "fee_bump_wrapper_with_a_foreign_memo": Case(lambda w: [_fee_bump(w, text="not-ours")],
                                                 ("unmatched",), "no transaction waits"),
    "muxed_address_with_unknown_id": Case(
        lambda w: [payment_record(w.account, w.asset, to_muxed=MuxedAccount(w.account, 424242).account_muxed,
                                  to_muxed_id="424242")], ("unmatched",), "424242"),
    "muxed_address_of_another_account": Case(
        lambda w: [payment_record(w.account, w.asset, memo="w-1",
                                  to_muxed=MuxedAccount(Keypair.random().public_key, 1).account_muxed,
                                  to_muxed_id="1")], ("matched",), None, Decimal("10")),
    "zero_amount": Case(lambda w: [payment_record(w.account, w.asset, "0", memo="w-1")],
                        ("rejected",), "no amount"),
    "memo_of_a_deposit": Case(lambda w: [payment_record(w.account, w.asset, memo="dep-1")],
                              ("unmatched",), "not waiting"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_payment_is_recorded_with_its_outcome(db: str, name: str) -> None:
    case = CASES[name]
    asset, account = make_asset(significant_decimals=2)
    withdrawal = make_withdrawal(asset, account, memo="w-1", amount_expected=Decimal("10"))
    bystander = make_withdrawal(asset, account, memo="other")
    Transaction.create(id=uuid.uuid4(), kind="deposit", status="pending_anchor", protocol="sep24",
                       asset=asset, memo="dep-1", memo_type="text", receiving_anchor_account=account,
                       stellar_account=Keypair.random().public_key)
    import actors.payments

    records = case.records(World(asset, account, withdrawal))
    for record in records:
        record_event(record, account)
        actors.payments.process_payment.fn(record["id"])  # the actor body, as a worker runs it

    payments = [Payment.get(Payment.operation_id == r["id"]) for r in records]
    assert [p.outcome for p in payments] == list(case.outcomes)
    assert [p.amount for p in payments] == [Decimal(r["amount"]) for r in records]  # exactly as received
    last = payments[-1]
    if case.reason is None:
        assert last.reason is None
    else:
        assert last.reason and case.reason in last.reason, last.reason
    assert Cursor.get_by_id(account).paging_token == records[-1]["paging_token"]  # nothing to re-read
    row = Transaction.get_by_id(withdrawal.id)
    if case.matched_amount is None:
        assert (row.status, row.amount_in) == (WAITING, None)
        assert all(p.transaction_id is None for p in payments)
    else:
        assert (row.status, row.amount_in) == ("pending_anchor", case.matched_amount)
        assert payments[0].transaction_id == withdrawal.id
        assert row.stellar_transaction_id == records[0]["transaction_hash"]
    assert Transaction.get_by_id(bystander.id).status == WAITING
    assert Transaction.get(Transaction.memo == "dep-1").status == "pending_anchor"
