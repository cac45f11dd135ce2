"""Every submission error an anchor must handle, raised as the SDK exception Horizon causes."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from stellar_sdk import Asset, AuthorizationFlag, Keypair, TransactionBuilder, TrustLineFlags
from stellar_sdk.exceptions import BadRequestError
from stellar_sdk.xdr import TransactionResult

from .helpers import build, issue, pay, trust


def _codes(exc: BadRequestError) -> dict:
    return exc.extras["result_codes"]


def _sequence(sim, address: str) -> int:
    return sim.account(address)["sequence"]


def test_bad_seq_is_not_charged(sim, server, funded):
    a, b = funded(), funded()
    account = server.load_account(a.public_key)
    account.sequence += 5
    tx = TransactionBuilder(account, sim.passphrase, 100).append_payment_op(
        b.public_key, Asset.native(), "1").set_timeout(30).build()
    tx.sign(a)
    before = sim.balance(a.public_key)
    with pytest.raises(BadRequestError) as info:
        server.submit_transaction(tx)
    assert info.value.status == 400
    assert info.value.type == "https://stellar.org/horizon-errors/transaction_failed"
    assert _codes(info.value) == {"transaction": "tx_bad_seq"}
    assert "operations" not in _codes(info.value)
    assert sim.balance(a.public_key) == before


def test_bad_auth_wrong_signer_and_wrong_network(sim, server, funded):
    a, b = funded(), funded()
    seq = _sequence(sim, a.public_key)
    tx = build(server, sim.passphrase, a, pay(b.public_key, "1"), signers=[Keypair.random()])
    with pytest.raises(BadRequestError) as info:
        server.submit_transaction(tx)
    assert _codes(info.value) == {"transaction": "tx_bad_auth"}
    other = build(server, "Test SDF Network ; September 2015", a, pay(b.public_key, "1"))
    with pytest.raises(BadRequestError) as info:
        server.submit_transaction(other)
    assert _codes(info.value) == {"transaction": "tx_bad_auth"}
    assert _sequence(sim, a.public_key) == seq


def test_too_late(sim, server, funded):
    a, b = funded(), funded()
    builder = TransactionBuilder(server.load_account(a.public_key), sim.passphrase, 100)
    tx = builder.append_payment_op(b.public_key, Asset.native(), "1").add_time_bounds(
        0, int(time.time()) - 10).build()
    tx.sign(a)
    with pytest.raises(BadRequestError) as info:
        server.submit_transaction(tx)
    assert _codes(info.value) == {"transaction": "tx_too_late"}


def test_too_early(sim, server, funded):
    a, b = funded(), funded()
    builder = TransactionBuilder(server.load_account(a.public_key), sim.passphrase, 100)
    tx = builder.append_payment_op(b.public_key, Asset.native(), "1").add_time_bounds(
        int(time.time()) + 3600, 0).build()
    tx.sign(a)
    with pytest.raises(BadRequestError) as info:
        server.submit_transaction(tx)
    assert _codes(info.value) == {"transaction": "tx_too_early"}


def test_insufficient_fee(sim, server, funded):
    a, b = funded(), funded()
    tx = build(server, sim.passphrase, a, pay(b.public_key, "1"), fee=1)
    with pytest.raises(BadRequestError) as info:
        server.submit_transaction(tx)
    assert _codes(info.value) == {"transaction": "tx_insufficient_fee"}
    assert TransactionResult.from_xdr(info.value.result_xdr).fee_charged.int64 == 100


def _failed(server, tx) -> BadRequestError:
    with pytest.raises(BadRequestError) as info:
        server.submit_transaction(tx)
    assert info.value.extras["envelope_xdr"] == tx.to_xdr()
    return info.value


def test_op_failures_charge_fee_and_consume_sequence(sim, server, funded):
    a, b = funded(), funded()
    usd = Asset("USD", Keypair.random().public_key)
    seq, before = _sequence(sim, a.public_key), sim.balance(a.public_key)
    tx = build(server, sim.passphrase, a, pay(b.public_key, "1"), pay(b.public_key, "1", usd))
    err = _failed(server, tx)
    assert _codes(err) == {"transaction": "tx_failed", "operations": ["op_success", "op_no_trust"]}
    result = TransactionResult.from_xdr(err.result_xdr)
    assert result.fee_charged.int64 == 200
    assert _sequence(sim, a.public_key) == seq + 1
    assert sim.balance(a.public_key) == before - Decimal("0.00002")
    assert sim.balance(b.public_key) == Decimal(10000)
    assert server.transactions().transaction(tx.hash_hex()).call()["successful"] is False


def test_op_no_destination(sim, server, funded):
    a = funded()
    err = _failed(server, build(server, sim.passphrase, a, pay(Keypair.random().public_key, "1")))
    assert _codes(err)["operations"] == ["op_no_destination"]


def test_op_underfunded(sim, server, funded):
    a, b = funded("3"), funded()
    err = _failed(server, build(server, sim.passphrase, a, pay(b.public_key, "2.5")))
    assert _codes(err)["operations"] == ["op_underfunded"]


def test_op_line_full(sim, server, funded):
    issuer, holder = funded(), funded()
    usd = issue(server, sim.passphrase, issuer, holder, "USD", "5", limit="10")
    err = _failed(server, build(server, sim.passphrase, issuer,
                                pay(holder.public_key, "5.0000001", usd)))
    assert _codes(err)["operations"] == ["op_line_full"]


def test_op_not_authorized(sim, server, funded):
    issuer, holder = funded(), funded()
    server.submit_transaction(build(server, sim.passphrase, issuer, lambda bld: bld.
                                    append_set_options_op(
        set_flags=AuthorizationFlag.AUTHORIZATION_REQUIRED | AuthorizationFlag.AUTHORIZATION_REVOCABLE)))
    usd = Asset("USD", issuer.public_key)
    server.submit_transaction(build(server, sim.passphrase, holder, trust(usd)))
    err = _failed(server, build(server, sim.passphrase, issuer, pay(holder.public_key, "1", usd)))
    assert _codes(err)["operations"] == ["op_not_authorized"]
    server.submit_transaction(build(server, sim.passphrase, issuer, lambda bld: bld.
                                    append_set_trust_line_flags_op(holder.public_key, usd,
                                                                   set_flags=TrustLineFlags.AUTHORIZED_FLAG)))
    server.submit_transaction(build(server, sim.passphrase, issuer,
                                    pay(holder.public_key, "1", usd)))
    assert sim.balance(holder.public_key, usd) == Decimal(1)


def test_op_bad_auth_for_operation_source(sim, server, funded):
    channel, distributor, b = funded(), funded(), funded()
    tx = build(server, sim.passphrase, channel,
               lambda bld: bld.append_payment_op(b.public_key, Asset.native(), "1",
                                                 source=distributor.public_key))
    err = _failed(server, tx)
    assert _codes(err) == {"transaction": "tx_failed", "operations": ["op_bad_auth"]}
    both = build(server, sim.passphrase, channel,
                 lambda bld: bld.append_payment_op(b.public_key, Asset.native(), "1",
                                                   source=distributor.public_key),
                 signers=[channel, distributor])
    server.submit_transaction(both)
    assert sim.balance(distributor.public_key) == Decimal(9999)
    assert sim.balance(channel.public_key) == Decimal("9999.99999")


def test_multisig_thresholds(sim, server, funded):
    a, cosigner, b = funded(), Keypair.random(), funded()
    server.submit_transaction(build(server, sim.passphrase, a, lambda bld: bld.
                                    append_ed25519_public_key_signer(cosigner.public_key, 1).
                                    append_set_options_op(master_weight=1, low_threshold=1,
                                                          med_threshold=2, high_threshold=2)))
    err = _failed(server, build(server, sim.passphrase, a, pay(b.public_key, "1")))
    assert _codes(err)["operations"] == ["op_bad_auth"]
    server.submit_transaction(build(server, sim.passphrase, a, pay(b.public_key, "1"),
                                    signers=[a, cosigner]))
    assert sim.balance(b.public_key) == Decimal(10001)


def test_bad_auth_extra(sim, server, funded):
    a, b = funded(), funded()
    with pytest.raises(BadRequestError) as info:
        server.submit_transaction(build(server, sim.passphrase, a, pay(b.public_key, "1"),
                                        signers=[a, Keypair.random()]))
    assert _codes(info.value) == {"transaction": "tx_bad_auth_extra"}
