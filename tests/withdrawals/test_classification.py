"""Every payment that is not a clean match says why: real payments on simnet, both backends."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from stellar_sdk import IdMemo, TextMemo
from support.chain import Chain
from support.factories import make_withdrawal

from anchor_dramatiq import config
from anchor_dramatiq.db import utcnow
from anchor_dramatiq.models import Payment, Transaction
from anchor_dramatiq.payments.process import process_payment
from anchor_dramatiq.payments.reconcile import reconcile_account
from simnet import Simnet

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def chain(sim: Simnet, db: str) -> Chain:
    config.configure(config.get_settings().replace(horizon_url=sim.url))
    return Chain(sim)


def record_all(chain: Chain) -> dict[str, Payment]:
    """Record what simnet holds for the distribution account and process each payment, by memo."""
    recorded = reconcile_account(chain.server, chain.account, utcnow() - dt.timedelta(hours=1))
    for operation_id in sorted(recorded, key=int):  # in ledger order, as the stream delivers them
        process_payment(operation_id)
    return {p.memo or f"none:{p.amount}": p for p in Payment.select()}


def test_each_kind_of_payment_is_classified(chain: Chain) -> None:
    asset = chain.register()
    make_withdrawal(asset, chain.account, memo="expired", status="expired")
    make_withdrawal(asset, chain.account, memo="too-early", status="incomplete")
    make_withdrawal(asset, chain.account, memo="twin")
    make_withdrawal(asset, chain.account, memo="twin")
    make_withdrawal(asset, chain.account, memo="look-alike")
    make_withdrawal(asset, chain.account, memo="555", memo_type="text")
    paid = make_withdrawal(asset, chain.account, memo="paid")
    make_withdrawal(asset, chain.account, memo="more", amount_expected=Decimal("10"))
    config.configure(config.get_settings().replace(internal_accounts=frozenset({chain.sponsor.public_key})))
    chain.submit(chain.sponsor, lambda b: b.append_change_trust_op(chain.usd))
    chain.submit(chain.issuer, lambda b: b.append_payment_op(chain.account, chain.usd, "500"),
                 TextMemo("treasury top-up"))
    chain.submit(chain.issuer, lambda b: b.append_payment_op(chain.sponsor.public_key, chain.usd, "50"))
    chain.submit(chain.sponsor, lambda b: b.append_payment_op(chain.account, chain.usd, "40"),
                 TextMemo("from treasury"))
    chain.pay("1", TextMemo("expired"))
    chain.pay("2", TextMemo("too-early"))
    chain.pay("3", TextMemo("twin"))
    chain.pay("4", TextMemo("look-alike"), asset=chain.fake_usd)
    chain.pay("5", IdMemo(555))
    chain.pay("6")
    chain.pay("7", TextMemo("nobody"))
    chain.pay("10", TextMemo("paid"))
    chain.pay("8", TextMemo("paid"))
    chain.pay("12.5", TextMemo("more"))

    record_all(chain)
    found = {(p.memo, p.amount, p.outcome) for p in Payment.select()}
    assert found == {
        ("treasury top-up", Decimal("500"), "internal"),
        ("from treasury", Decimal("40"), "internal"),
        ("expired", Decimal("1"), "late"),
        ("too-early", Decimal("2"), "late"),
        ("twin", Decimal("3"), "ambiguous"),
        ("look-alike", Decimal("4"), "rejected"),  # same code, another issuer
        ("555", Decimal("5"), "rejected"),  # id memo for a text memo
        (None, Decimal("6"), "unmatched"),
        ("nobody", Decimal("7"), "unmatched"),
        ("paid", Decimal("10"), "matched"),
        ("paid", Decimal("8"), "unmatched"),  # its transaction took the first payment
        ("more", Decimal("12.5"), "matched"),  # accepted as Polaris does, with a note
    }
    more = Payment.get(Payment.memo == "more")
    assert more.reason.startswith("amount 12.50 differs from amount_expected 10")
    assert Transaction.get_by_id(paid.id).amount_in == Decimal("10")


def test_hold_policy_holds_over_and_underpayments(chain: Chain) -> None:
    asset = chain.register()
    over = make_withdrawal(asset, chain.account, memo="over", amount_expected=Decimal("10"))
    under = make_withdrawal(asset, chain.account, memo="under", amount_expected=Decimal("10"))
    exact = make_withdrawal(asset, chain.account, memo="exact", amount_expected=Decimal("10"))
    config.configure(config.get_settings().replace(amount_policy=(("USD", "hold"), ("*", "accept"))))
    chain.pay("15", TextMemo("over"))
    chain.pay("9.99", TextMemo("under"))
    chain.pay("10.001", TextMemo("exact"))  # 10.00 at the asset's two decimals
    found = record_all(chain)
    assert (found["over"].outcome, found["over"].transaction_id) == ("overpaid", over.id)
    assert (found["under"].outcome, found["under"].transaction_id) == ("underpaid", under.id)
    assert found["exact"].outcome == "matched"
    assert "expects 10" in found["over"].reason
    statuses = {t.id: Transaction.get_by_id(t.id).status for t in (over, under, exact)}
    assert statuses == {over.id: "pending_user_transfer_start", under.id: "pending_user_transfer_start",
                        exact.id: "pending_anchor"}
