"""Refunds paid exactly once, checked on the simnet ledger, both backends; and the re-match window."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from decimal import Decimal

import pytest
from stellar_sdk import Keypair, TextMemo
from support.chain import Chain
from support.factories import make_withdrawal

from anchor_dramatiq import config
from anchor_dramatiq.db import database, utcnow
from anchor_dramatiq.errors import RefundRefused
from anchor_dramatiq.models import Payment, Refund, Submission, Transaction
from anchor_dramatiq.payments.process import process_payment
from anchor_dramatiq.payments.reconcile import reconcile_account
from anchor_dramatiq.payments.refund_submit import pay_refund_until_settled
from anchor_dramatiq.payments.refunds import request_refund, sep_refunds
from anchor_dramatiq.payments.rematch import rematch_all
from simnet import Simnet

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def chain(sim: Simnet, db: str) -> Chain:
    config.configure(config.get_settings().replace(horizon_url=sim.url))
    return Chain(sim)


def record_new(chain: Chain) -> None:
    """Record and process, in ledger order, what simnet holds for the distribution account."""
    recorded = reconcile_account(chain.server, chain.account, utcnow() - dt.timedelta(hours=1))
    for operation_id in sorted(recorded, key=int):
        process_payment(operation_id)


def payment_for(memo: str | None, amount: str) -> Payment:
    return Payment.get((Payment.memo == memo if memo else Payment.memo.is_null())
                       & (Payment.amount == Decimal(amount)))


def refund(payment: Payment, amount: Decimal | None = None, by: str = "test") -> str:
    row = request_refund(payment.operation_id, amount, by)
    return pay_refund_until_settled(row.id, config.get_settings(), patience_s=30)


def refunds_on_ledger(chain: Chain, payment: Payment) -> list[dict]:
    """Payments from the distribution account whose return memo names ``payment``'s transaction."""
    memo = base64.b64encode(bytes.fromhex(payment.transaction_hash)).decode()
    return [p for p in chain.sim.payments(chain.account)
            if p["from"] == chain.account and p.get("memo_type") == "return" and p.get("memo") == memo
            and p["successful"]]


def test_refund_of_a_wrong_asset_payment_goes_back_in_that_asset(chain: Chain) -> None:
    asset = chain.register()
    make_withdrawal(asset, chain.account, memo="look-alike")
    before = chain.sim.balance(chain.user.public_key, chain.fake_usd)
    chain.pay("4", TextMemo("look-alike"), asset=chain.fake_usd)
    record_new(chain)
    payment = payment_for("look-alike", "4")
    assert payment.outcome == "rejected"
    assert refund(payment) == "paid"
    [back] = refunds_on_ledger(chain, payment)
    assert (back["to"], back["asset"], Decimal(back["amount"])) == (
        chain.user.public_key, f"USD:{chain.fake_issuer.public_key}", Decimal("4"))
    assert chain.sim.balance(chain.user.public_key, chain.fake_usd) == before
    row = Refund.get(Refund.payment == payment.id)
    assert (row.state, row.stellar_transaction_id) == ("paid", back["transaction_hash"])
    assert Submission.get(Submission.hash == back["transaction_hash"]).purpose == "refund"


def test_refund_of_an_unmatched_payment(chain: Chain) -> None:
    chain.register()
    chain.pay("6")
    record_new(chain)
    payment = payment_for(None, "6")
    assert payment.outcome == "unmatched"
    assert refund(payment) == "paid"
    assert len(refunds_on_ledger(chain, payment)) == 1


def test_partial_refund_of_an_overpayment_keeps_the_transaction_going(chain: Chain) -> None:
    asset = chain.register()
    over = make_withdrawal(asset, chain.account, memo="over", amount_expected=Decimal("10"))
    chain.pay("15", TextMemo("over"))
    record_new(chain)
    payment = payment_for("over", "15")
    assert payment.outcome == "matched"
    with pytest.raises(RefundRefused, match="more than the 5"):
        request_refund(payment.operation_id, Decimal("6"), "test")
    assert refund(payment) == "paid"  # the excess: 5
    [back] = refunds_on_ledger(chain, payment)
    assert Decimal(back["amount"]) == Decimal("5")
    row = Transaction.get_by_id(over.id)
    assert (row.status, row.refunded) == ("pending_anchor", False)
    assert sep_refunds(over.id) == {"amount_refunded": "5", "amount_fee": "0",
                                    "payments": [{"id": back["transaction_hash"], "id_type": "stellar",
                                                  "amount": "5", "fee": "0"}]}


def test_full_refund_of_a_held_payment_refunds_the_transaction(chain: Chain) -> None:
    asset = chain.register()
    held = make_withdrawal(asset, chain.account, memo="under", amount_expected=Decimal("10"))
    config.configure(config.get_settings().replace(amount_policy=(("*", "hold"),)))
    chain.pay("9", TextMemo("under"))
    record_new(chain)
    payment = payment_for("under", "9")
    assert (payment.outcome, payment.transaction_id) == ("underpaid", held.id)
    assert refund(payment) == "paid"
    row = Transaction.get_by_id(held.id)
    assert (row.status, row.refunded) == ("refunded", True)
    assert Decimal(sep_refunds(held.id)["amount_refunded"]) == Decimal("9")


def test_refund_requested_twice_and_concurrently_pays_once(chain: Chain) -> None:
    chain.register()
    chain.pay("7", TextMemo("nobody"))
    record_new(chain)
    payment = payment_for("nobody", "7")
    results: list[str] = []
    errors: list[BaseException] = []

    def operator(name: str) -> None:
        try:
            results.append(refund(payment, by=name))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            database.close()

    threads = [threading.Thread(target=operator, args=(f"operator-{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert results == ["paid"] * 3
    assert refund(payment) == "paid"  # and once more, later
    assert len(refunds_on_ledger(chain, payment)) == 1
    assert Refund.select().count() == 1
    with pytest.raises(RefundRefused, match="already has a refund of 7"):
        request_refund(payment.operation_id, Decimal("1"), "late operator")


def test_refund_whose_submission_times_out_after_landing_pays_once(chain: Chain) -> None:
    chain.register()
    chain.pay("3", TextMemo("timeout"))
    record_new(chain)
    payment = payment_for("timeout", "3")
    chain.sim.add_fault("submit_timeout", applied=True, count=1)
    assert refund(payment) == "paid"
    assert len(refunds_on_ledger(chain, payment)) == 1
    assert Submission.select().where(Submission.purpose == "refund").count() == 1


def test_refund_to_an_account_without_the_trustline_fails_clearly_and_loses_nothing(chain: Chain) -> None:
    chain.register()
    sender = Keypair.random()
    chain.sim.friendbot(sender.public_key)
    chain.submit(sender, lambda b: b.append_change_trust_op(chain.usd))
    chain.submit(chain.issuer, lambda b: b.append_payment_op(sender.public_key, chain.usd, "20"))
    chain.submit(sender, lambda b: b.append_payment_op(chain.account, chain.usd, "20"), TextMemo("gone"))
    chain.submit(sender, lambda b: b.append_change_trust_op(chain.usd, "0"))  # trustline removed
    record_new(chain)
    payment = payment_for("gone", "20")
    distribution_before = chain.balance()
    assert refund(payment) == "failed"
    row = Refund.get(Refund.payment == payment.id)
    assert row.state == "failed" and "no longer trusts the asset" in row.reason
    assert refunds_on_ledger(chain, payment) == []
    assert chain.balance() == distribution_before
    assert Payment.get_by_id(payment.id).outcome == "unmatched"  # still in the inbox

    chain.submit(sender, lambda b: b.append_change_trust_op(chain.usd))
    assert refund(payment) == "paid"  # run again once the sender trusts the asset
    assert len(refunds_on_ledger(chain, payment)) == 1
    assert chain.sim.balance(sender.public_key, chain.usd) == Decimal("20")


def test_internal_and_pending_payments_are_never_refunded(chain: Chain) -> None:
    chain.register()
    chain.submit(chain.issuer, lambda b: b.append_payment_op(chain.account, chain.usd, "100"))
    record_new(chain)
    payment = payment_for(None, "100")
    assert payment.outcome == "internal"
    with pytest.raises(RefundRefused, match="never refunded"):
        request_refund(payment.operation_id, None, "test")
    assert Refund.select().count() == 0


def test_unmatched_payment_is_matched_when_its_transaction_starts_waiting(chain: Chain) -> None:
    asset = chain.register()
    early = make_withdrawal(asset, chain.account, memo="early", status="incomplete")
    chain.pay("10", TextMemo("early"))
    chain.pay("11", TextMemo("old"))
    record_new(chain)
    assert payment_for("early", "10").outcome == "late"
    assert payment_for("old", "11").outcome == "unmatched"
    old = make_withdrawal(asset, chain.account, memo="old")
    Transaction.update(status="pending_user_transfer_start").where(Transaction.id == early.id).execute()
    outside = utcnow() - dt.timedelta(hours=2)
    Payment.update(created_at=outside).where(Payment.memo == "old").execute()
    config.configure(config.get_settings().replace(rematch_window=3600))

    assert rematch_all(config.get_settings()) == [early.id]
    taken = payment_for("early", "10")
    assert (taken.outcome, taken.transaction_id) == ("matched", early.id)
    assert Transaction.get_by_id(early.id).status == "pending_anchor"
    assert payment_for("old", "11").outcome == "unmatched"  # outside the window
    assert Transaction.get_by_id(old.id).status == "pending_user_transfer_start"


def test_refunded_payment_is_never_re_matched(chain: Chain) -> None:
    asset = chain.register()
    chain.pay("5", TextMemo("later"))
    record_new(chain)
    payment = payment_for("later", "5")
    assert refund(payment) == "paid"
    waiting = make_withdrawal(asset, chain.account, memo="later")
    assert rematch_all(config.get_settings()) == []
    assert Transaction.get_by_id(waiting.id).status == "pending_user_transfer_start"


def test_payments_list_and_refund_commands(chain: Chain) -> None:
    from click.testing import CliRunner

    from anchor_dramatiq.cli import main
    from anchor_dramatiq.cli.status import report

    chain.register()
    chain.pay("6", TextMemo("stray"))
    chain.submit(chain.issuer, lambda b: b.append_payment_op(chain.account, chain.usd, "100"))
    record_new(chain)
    payment = payment_for("stray", "6")
    runner = CliRunner()
    listed = runner.invoke(main, ["payments", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.output)  # the internal top-up is not in the inbox
    assert (row["operation_id"], row["outcome"]) == (payment.operation_id, "unmatched")
    assert row["refund_request"] is None
    inbox = report(config.get_settings(), 3600, ask_horizon=False)["payment_inbox"]
    assert [(r["outcome"], r["count"], Decimal(r["value"])) for r in inbox] == [
        ("unmatched", 1, Decimal("6"))]

    refused = runner.invoke(main, ["payments", "refund", payment.operation_id, "--amount", "7"])
    assert refused.exit_code == 1 and "more than the 6" in refused.output
    paid = runner.invoke(main, ["payments", "refund", payment.operation_id])
    assert paid.exit_code == 0, paid.output
    assert "refund 6.0000000 paid by Stellar transaction" in paid.output
    again = runner.invoke(main, ["payments", "refund", payment.operation_id])
    assert again.exit_code == 0 and paid.output.splitlines()[-1] in again.output
    assert len(refunds_on_ledger(chain, payment)) == 1
    [row] = json.loads(runner.invoke(main, ["payments", "--outcome", "unmatched", "--json"]).output)
    assert row["refund_request"]["state"] == "paid"
    assert report(config.get_settings(), 3600, ask_horizon=False)["payment_inbox"] == []
    internal = runner.invoke(main, ["payments", "list", "--outcome", "internal"])
    assert "internal: from" in internal.output
