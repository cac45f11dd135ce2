"""Fee bumps, muxed accounts, claimable balances, path payments and the remaining operations."""

from __future__ import annotations

from decimal import Decimal

import pytest
from stellar_sdk import (
    Asset,
    Claimant,
    ClaimPredicate,
    Keypair,
    MuxedAccount,
    TransactionBuilder,
)
from stellar_sdk.exceptions import BadRequestError

from .helpers import build, issue, pay


def test_fee_bump_outer_and_inner_hash(sim, server, funded):
    a, sponsor, b = funded(), funded(), funded()
    inner = build(server, sim.passphrase, a, pay(b.public_key, "2"))
    bump = TransactionBuilder.build_fee_bump_transaction(sponsor.public_key, 200, inner,
                                                         sim.passphrase)
    bump.sign(sponsor)
    resp = server.submit_transaction(bump)
    assert resp["hash"] == bump.hash_hex()
    assert resp["fee_account"] == sponsor.public_key and resp["source_account"] == a.public_key
    assert resp["inner_transaction"]["hash"] == inner.hash_hex()
    assert resp["fee_charged"] == "200"
    by_inner = server.transactions().transaction(inner.hash_hex()).call()
    assert by_inner["hash"] == inner.hash_hex() and by_inner["ledger"] == resp["ledger"]
    assert sim.balance(a.public_key) == Decimal("9998")
    assert sim.balance(sponsor.public_key) == Decimal("9999.99998")
    assert server.submit_transaction(inner)["hash"] == inner.hash_hex()  # inner hash resolves


def test_fee_bump_inner_failure_codes(sim, server, funded):
    a, sponsor = funded(), funded()
    inner = build(server, sim.passphrase, a, pay(Keypair.random().public_key, "2"))
    bump = TransactionBuilder.build_fee_bump_transaction(sponsor.public_key, 100, inner,
                                                         sim.passphrase)
    bump.sign(sponsor)
    with pytest.raises(BadRequestError) as info:
        server.submit_transaction(bump)
    assert info.value.extras["result_codes"] == {
        "transaction": "tx_fee_bump_inner_failed", "inner_transaction": "tx_failed",
        "operations": ["op_no_destination"]}


def test_payment_to_muxed_account(sim, server, funded):
    a, b = funded(), funded()
    muxed = MuxedAccount(b.public_key, 4242).account_muxed
    server.submit_transaction(build(server, sim.passphrase, a, pay(muxed, "5")))
    record = server.payments().for_account(b.public_key).order(desc=True).limit(1).call()[
        "_embedded"]["records"][0]
    assert record["to"] == b.public_key
    assert record["to_muxed"] == muxed and record["to_muxed_id"] == "4242"
    assert sim.payments(b.public_key)[-1]["to_muxed_id"] == 4242


def test_muxed_transaction_source(sim, server, funded):
    a, b = funded(), funded()
    account = server.load_account(MuxedAccount(a.public_key, 9).account_muxed)
    tx = TransactionBuilder(account, sim.passphrase, 100).append_payment_op(
        b.public_key, Asset.native(), "1").set_timeout(30).build()
    tx.sign(a)
    resp = server.submit_transaction(tx)
    assert resp["source_account"] == a.public_key
    assert resp["account_muxed_id"] == "9"


def test_claimable_balance_lifecycle(sim, server, funded):
    issuer, payer, claimer = funded(), funded(), funded()
    usd = issue(server, sim.passphrase, issuer, payer, "USD", "50")
    resp = server.submit_transaction(build(server, sim.passphrase, payer, lambda bld: bld.
                                           append_create_claimable_balance_op(
                                               usd, "20", [Claimant(claimer.public_key)])))
    assert resp["successful"]
    listed = server.claimable_balances().for_claimant(claimer.public_key).call()
    records = listed["_embedded"]["records"]
    assert len(records) == 1 and records[0]["amount"] == "20.0000000"
    balance_id = records[0]["id"]
    assert records[0]["asset"] == f"USD:{issuer.public_key}"
    assert server.claimable_balances().claimable_balance(balance_id).call()["id"] == balance_id
    claim = build(server, sim.passphrase, claimer,
                  lambda bld: bld.append_claim_claimable_balance_op(balance_id))
    with pytest.raises(BadRequestError) as info:
        server.submit_transaction(claim)
    assert info.value.extras["result_codes"]["operations"] == ["op_no_trust"]
    issue(server, sim.passphrase, issuer, claimer, "USD", "")
    server.submit_transaction(build(server, sim.passphrase, claimer, lambda bld: bld.
                                    append_claim_claimable_balance_op(balance_id)))
    assert sim.balance(claimer.public_key, usd) == Decimal(20)
    assert sim.balance(payer.public_key, usd) == Decimal(30)
    assert server.claimable_balances().for_claimant(claimer.public_key).call()[
        "_embedded"]["records"] == []


def test_claim_predicate_in_the_past_cannot_claim(sim, server, funded):
    payer, claimer = funded(), funded()
    predicate = ClaimPredicate.predicate_before_absolute_time(1)
    server.submit_transaction(build(server, sim.passphrase, payer, lambda bld: bld.
                                    append_create_claimable_balance_op(
                                        Asset.native(), "1", [Claimant(claimer.public_key,
                                                                       predicate)])))
    balance_id = server.claimable_balances().for_claimant(claimer.public_key).call()[
        "_embedded"]["records"][0]["id"]
    with pytest.raises(BadRequestError) as info:
        server.submit_transaction(build(server, sim.passphrase, claimer, lambda bld: bld.
                                        append_claim_claimable_balance_op(balance_id)))
    assert info.value.extras["result_codes"]["operations"] == ["op_cannot_claim"]


def test_path_payments_through_configured_rate(sim, server, funded):
    issuer, payer, receiver = funded(), funded(), funded()
    usd = issue(server, sim.passphrase, issuer, receiver, "USD", "")
    sim.set_rate(Asset.native(), usd, "0.1")
    resp = server.submit_transaction(build(server, sim.passphrase, payer, lambda bld: bld.
                                           append_path_payment_strict_send_op(
                                               receiver.public_key, Asset.native(), "100", usd,
                                               "9", [])))
    record = server.operations().for_transaction(resp["hash"]).call()["_embedded"]["records"][0]
    assert record["type"] == "path_payment_strict_send"
    assert record["amount"] == "10.0000000" and record["source_amount"] == "100.0000000"
    assert sim.balance(receiver.public_key, usd) == Decimal(10)
    server.submit_transaction(build(server, sim.passphrase, payer, lambda bld: bld.
                                    append_path_payment_strict_receive_op(
                                        receiver.public_key, Asset.native(), "30", usd, "2.5",
                                        [])))
    assert sim.balance(receiver.public_key, usd) == Decimal("12.5")
    assert sim.balance(payer.public_key) == Decimal("9875") - Decimal("0.00002")
    with pytest.raises(BadRequestError) as info:
        server.submit_transaction(build(server, sim.passphrase, payer, lambda bld: bld.
                                        append_path_payment_strict_send_op(
                                            receiver.public_key, Asset.native(), "10", usd,
                                            "5", [])))
    assert info.value.extras["result_codes"]["operations"] == ["op_under_dest_min"]
    eur = Asset("EUR", issuer.public_key)
    with pytest.raises(BadRequestError) as info:
        server.submit_transaction(build(server, sim.passphrase, payer, lambda bld: bld.
                                        append_path_payment_strict_send_op(
                                            receiver.public_key, Asset.native(), "10", eur,
                                            "1", [])))
    assert info.value.extras["result_codes"]["operations"] == ["op_too_few_offers"]


def test_same_asset_path_payment(sim, server, funded):
    a, b = funded(), funded()
    server.submit_transaction(build(server, sim.passphrase, a, lambda bld: bld.
                                    append_path_payment_strict_receive_op(
                                        b.public_key, Asset.native(), "5", Asset.native(), "5",
                                        [])))
    assert sim.balance(b.public_key) == Decimal(10005)


def test_manage_data_bump_sequence_set_options_and_merge(sim, server, funded):
    a, b = funded(), funded()
    server.submit_transaction(build(server, sim.passphrase, a, lambda bld: bld.
                                    append_manage_data_op("config.memo_required", b"1").
                                    append_set_options_op(home_domain="example.com")))
    account = server.accounts().account_id(a.public_key).call()
    assert account["data"] == {"config.memo_required": "MQ=="}
    assert account["home_domain"] == "example.com" and account["subentry_count"] == 1
    seq = server.load_account(a.public_key).sequence
    server.submit_transaction(build(server, sim.passphrase, a, lambda bld: bld.
                                    append_bump_sequence_op(seq + 100)))
    assert server.load_account(a.public_key).sequence == seq + 100
    with pytest.raises(BadRequestError) as info:
        server.submit_transaction(build(server, sim.passphrase, a, lambda bld: bld.
                                        append_account_merge_op(b.public_key)))
    assert info.value.extras["result_codes"]["operations"] == ["op_has_sub_entries"]
    server.submit_transaction(build(server, sim.passphrase, a, lambda bld: bld.
                                    append_manage_data_op("config.memo_required", None).
                                    append_account_merge_op(b.public_key)))
    assert sim.account(a.public_key) is None
    assert sim.balance(b.public_key) > Decimal("19999.99")
    merge = sim.payments(b.public_key)[-1]
    assert merge["type"] == "account_merge" and merge["stroops"] > 99_999_000_000


def test_operation_source_created_earlier_in_the_same_transaction(sim, server, funded):
    """Core's rule: an op may act for an account an earlier op creates, if that key signed."""
    from stellar_sdk import Asset, Keypair
    from stellar_sdk.exceptions import BadRequestError

    funder, issuer, newcomer = funded(), funded(), Keypair.random()
    usd = Asset("USD", issuer.public_key)
    tx = build(server, sim.passphrase, funder,
               lambda b: b.append_create_account_op(newcomer.public_key, "10"),
               lambda b: b.append_change_trust_op(usd, source=newcomer.public_key),
               signers=[funder, newcomer])
    server.submit_transaction(tx)
    assert sim.balance(newcomer.public_key, usd) == 0

    stranger = Keypair.random()
    unsigned = build(server, sim.passphrase, funder,
                     lambda b: b.append_create_account_op(stranger.public_key, "10"),
                     lambda b: b.append_change_trust_op(usd, source=stranger.public_key))
    try:
        server.submit_transaction(unsigned)
        raise AssertionError("accepted without the new account's signature")
    except BadRequestError as exc:
        assert exc.extras["result_codes"] == {"transaction": "tx_failed",
                                              "operations": ["op_success", "op_bad_auth"]}
    assert sim.account(stranger.public_key) is None
