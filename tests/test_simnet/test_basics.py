"""Core flows through the real stellar-sdk: accounts, fees, submission, lookups."""

from __future__ import annotations

from decimal import Decimal

import pytest
from stellar_sdk import Asset, Keypair
from stellar_sdk.exceptions import NotFoundError

from .helpers import build, issue, pay


def test_load_account_and_base_fee(sim, server, funded):
    kp = funded()
    account = server.load_account(kp.public_key)
    assert account.sequence > 0
    assert account.raw_data["balances"][-1]["balance"] == "10000.0000000"
    assert server.fetch_base_fee() == 100
    with pytest.raises(NotFoundError):
        server.load_account(Keypair.random().public_key)


def test_native_payment_is_exact_and_charges_fee(sim, server, funded):
    a, b = funded(), funded()
    resp = server.submit_transaction(build(server, sim.passphrase, a, pay(b.public_key, "12.5"),
                                           memo="invoice 7"))
    assert resp["successful"] is True
    assert resp["fee_charged"] == "100"
    assert sim.balance(b.public_key) == Decimal("10012.5")
    assert sim.balance(a.public_key) == Decimal("9987.4999900")
    fetched = server.transactions().transaction(resp["hash"]).call()
    assert fetched["hash"] == resp["hash"] and fetched["memo"] == "invoice 7"


def test_credit_payment_and_trustline(sim, server, funded):
    issuer, holder, other = funded(), funded(), funded()
    usd = issue(server, sim.passphrase, issuer, holder, "USD", "100")
    issue(server, sim.passphrase, issuer, other, "USD", "")
    server.submit_transaction(build(server, sim.passphrase, holder,
                                    pay(other.public_key, "40.0000001", usd)))
    assert sim.balance(holder.public_key, "USD", issuer.public_key) == Decimal("59.9999999")
    assert sim.balance(other.public_key, usd) == Decimal("40.0000001")
    balances = server.accounts().account_id(other.public_key).call()["balances"]
    assert balances[0]["asset_code"] == "USD" and balances[0]["balance"] == "40.0000001"
    assert server.load_account(other.public_key).raw_data["subentry_count"] == 1


def test_resubmitting_applied_transaction_returns_same_result(sim, server, funded):
    a, b = funded(), funded()
    tx = build(server, sim.passphrase, a, pay(b.public_key, "1"))
    first = server.submit_transaction(tx)
    again = server.submit_transaction(tx)
    assert again["hash"] == first["hash"] and again["ledger"] == first["ledger"]
    assert sim.balance(b.public_key) == Decimal("10001")


def test_create_account_through_sdk(sim, server, funded):
    a, new = funded(), Keypair.random()
    server.submit_transaction(build(
        server, sim.passphrase, a,
        lambda bld: bld.append_create_account_op(new.public_key, "5")))
    assert sim.balance(new.public_key) == Decimal(5)
    records = server.payments().for_account(new.public_key).call()["_embedded"]["records"]
    assert records[0]["type"] == "create_account" and records[0]["account"] == new.public_key
    assert [p["stroops"] for p in sim.payments(new.public_key)] == [50_000_000]


def test_issuer_balance_lookup_errors(sim, funded):
    kp = funded()
    with pytest.raises(LookupError):
        sim.balance(kp.public_key, Asset("EUR", Keypair.random().public_key))
    with pytest.raises(LookupError):
        sim.balance(Keypair.random().public_key)
