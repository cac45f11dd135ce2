"""Every simnet response kind against the real Horizon body beside it in tests/data/horizon/.

Same keys and the same JSON types for every key they share. Keys that may differ are listed
with the reason (see tests/data/horizon/README.md); anything else must match exactly.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests
from stellar_sdk import (
    Asset,
    Claimant,
    ClaimPredicate,
    Keypair,
    MuxedAccount,
    TransactionBuilder,
)

from .helpers import build, issue, pay

HORIZON = Path(__file__).resolve().parents[1] / "data" / "horizon"

# Keys real bodies have that simnet leaves out, and why.
MISSING_OK = {
    "valid_after": "removed in Horizon 22 (README: transaction.json)",
    "valid_before": "removed in Horizon 22",
    "result_meta_xdr": "simnet runs like Horizon with SKIP_TXMETA=true",
    "sponsor": "simnet has no sponsorship of accounts/trustlines",
    "max_time": "Horizon omits it when 0 (friendbot's transactions have no upper bound)",
    # root links for endpoints simnet does not serve
    "assets": "not served", "effects": "not served", "liquidity_pools": "not served",
    "offer": "not served", "offers": "not served", "order_book": "not served",
    "strict_receive_paths": "not served", "strict_send_paths": "not served",
    "trade_aggregations": "not served", "trades": "not served",
}
# Keys simnet adds that a particular body happens not to have.
EXTRA_OK = {
    "preconditions": "absent from old captures (submit_success.json, payment_with_transaction)",
    "fee_account": "absent from the 2019 join capture",
    "friendbot": "simnet's root links friendbot",
    "memo": "only present for memo types other than none",
    "memo_bytes": "only present for text memos",
    "max_time": "Horizon omits it when 0; some captured transactions had no upper bound",
    **{f"{name}_muxed{suffix}": "only present when that account was muxed"
       for name in ("source_account", "from", "to", "account", "fee_account", "funder", "into")
       for suffix in ("", "_id")},
}
# Free-form maps (account data entries): only the value types are compared.
MAPS = {"data"}
# payment_with_transaction.json is a Horizon 0.x body where these were numbers (now strings).
OLD_NUMBER_FIELDS = {"fee_charged", "max_fee"}


def _kind(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _pick(candidates: list, ours: dict) -> dict | None:
    """The real list element to compare with: same asset type / memo type / record type.

    A record whose operation type the real list lacks is skipped here; every operation type
    is checked against its own reference body.
    """
    pool = candidates
    for key in ("type", "asset_type", "memo_type"):
        if isinstance(ours, dict) and key in ours:
            same = [c for c in pool if isinstance(c, dict) and c.get(key) == ours[key]]
            if same:
                pool = same
            elif key == "type":
                return None
    return pool[0]


def compare(real, ours, where: str = "$", old_numbers: bool = False) -> list[str]:
    """Differences in keys and JSON types between a real body and simnet's."""
    if _kind(real) != _kind(ours):
        if not (old_numbers and where.rsplit(".", 1)[-1] in OLD_NUMBER_FIELDS):
            return [f"{where}: real {_kind(real)} vs simnet {_kind(ours)}"]
        return []
    problems = []
    if isinstance(real, dict) and where.rsplit(".", 1)[-1] in MAPS and "_links" not in where:
        for key, value in ours.items():
            problems += compare(next(iter(real.values())), value, f"{where}.{key}")
    elif isinstance(real, dict):
        for key in real.keys() - ours.keys():
            if key not in MISSING_OK:
                problems.append(f"{where}.{key}: missing in simnet")
        for key in ours.keys() - real.keys():
            if key not in EXTRA_OK:
                problems.append(f"{where}.{key}: not in the real body")
        for key in real.keys() & ours.keys():
            problems += compare(real[key], ours[key], f"{where}.{key}", old_numbers)
    elif isinstance(real, list) and real and ours:
        for i, item in enumerate(ours):
            keyed = isinstance(item, dict) and item.keys() & {"type", "asset_type", "memo_type"}
            match = _pick(real, item) if keyed else real[min(i, len(real) - 1)]
            if match is not None:
                problems += compare(match, item, f"{where}[{i}]", old_numbers)
    return problems


def check(name: str, ours, old_numbers: bool = False) -> None:
    real = json.loads((HORIZON / name).read_text())
    problems = compare(real, ours, name, old_numbers)
    assert not problems, "\n".join(problems)


@pytest.fixture
def world(sim, server, funded):
    """One network with every kind of record the reference bodies show."""
    issuer, a, b, sponsor = funded(), funded(), funded(), funded()
    usd = issue(server, sim.passphrase, issuer, a, "USD", "100")
    issue(server, sim.passphrase, issuer, b, "USD", "")
    server.submit_transaction(build(server, sim.passphrase, a, lambda bld: bld.
                                    append_manage_data_op("v1", b"v1 value").
                                    append_ed25519_public_key_signer(Keypair.random().public_key,
                                                                     1).
                                    append_set_options_op(home_domain="example.com",
                                                          inflation_dest=b.public_key)))
    payment = server.submit_transaction(build(server, sim.passphrase, a,
                                              pay(b.public_key, "39", usd), memo="Test"))
    sim.set_rate(Asset.native(), usd, "0.5")
    strict_send = server.submit_transaction(build(
        server, sim.passphrase, b, lambda bld: bld.append_path_payment_strict_send_op(
            b.public_key, Asset.native(), "2", usd, "0.5", [usd])))
    strict_receive = server.submit_transaction(build(
        server, sim.passphrase, b, lambda bld: bld.append_path_payment_strict_receive_op(
            a.public_key, Asset.native(), "4", usd, "1", [usd])))
    inner = build(server, sim.passphrase, a, pay(b.public_key, "1"))
    bump = TransactionBuilder.build_fee_bump_transaction(sponsor.public_key, 200, inner,
                                                         sim.passphrase)
    bump.sign(sponsor)
    fee_bump = server.submit_transaction(bump)
    muxed_source = server.load_account(MuxedAccount(a.public_key, 21449687443220).account_muxed)
    muxed_tx = TransactionBuilder(muxed_source, sim.passphrase, 100).append_payment_op(
        b.public_key, Asset.native(), "1").set_timeout(30).build()
    muxed_tx.sign(a)
    muxed_bump = TransactionBuilder.build_fee_bump_transaction(sponsor.public_key, 200,
                                                               muxed_tx, sim.passphrase)
    muxed_bump.sign(sponsor)  # the reference body is a fee bump around a muxed source too
    muxed = server.submit_transaction(muxed_bump)
    predicate = ClaimPredicate.predicate_and(
        ClaimPredicate.predicate_or(
            ClaimPredicate.predicate_before_absolute_time(600),
            ClaimPredicate.predicate_or(ClaimPredicate.predicate_unconditional(),
                                        ClaimPredicate.predicate_before_absolute_time(
                                            int(time.time()) + 300))),
        ClaimPredicate.predicate_unconditional())
    server.submit_transaction(build(server, sim.passphrase, a, lambda bld: bld.
                                    append_create_claimable_balance_op(
                                        Asset.native(), "1.2345",
                                        [Claimant(b.public_key, predicate),
                                         Claimant(a.public_key)])))
    closer = funded()
    server.submit_transaction(build(server, sim.passphrase, closer,
                                    lambda bld: bld.append_account_merge_op(b.public_key)))
    return {"issuer": issuer, "a": a, "b": b, "usd": usd, "payment": payment,
            "strict_send": strict_send, "strict_receive": strict_receive, "fee_bump": fee_bump,
            "muxed": muxed}


def _ops(server, tx_hash):
    return server.operations().for_transaction(tx_hash).call()["_embedded"]["records"]


def test_read_endpoints_match_horizon(sim, server, world):
    a, b = world["a"], world["b"]
    check("root.json", requests.get(sim.url + "/", timeout=5).json())
    check("account.json", server.accounts().account_id(a.public_key).call())
    check("transaction.json", server.transactions().transaction(world["payment"]["hash"]).call())
    check("transaction_fee_bump.json",
          server.transactions().transaction(world["fee_bump"]["hash"]).call())
    check("transaction_muxed_source.json",
          server.transactions().transaction(world["muxed"]["hash"]).call())
    issuer = world["issuer"].public_key  # plain transactions, no fee bumps or muxed sources
    check("transactions_page.json", server.transactions().for_account(issuer).call())
    check("payments_page.json", server.payments().for_account(b.public_key).limit(200).call())
    check("payment_operation.json", _ops(server, world["payment"]["hash"])[0])
    check("path_payment_strict_send_operation.json", _ops(server, world["strict_send"]["hash"])[0])
    check("create_account_operation.json",
          server.payments().for_account(a.public_key).call()["_embedded"]["records"][0])
    joined = server.operations().for_transaction(world["strict_receive"]["hash"]).join(
        "transactions").call()
    check("payment_with_transaction.json", joined, old_numbers=True)
    balance = server.claimable_balances().for_claimant(b.public_key).call()[
        "_embedded"]["records"][0]
    check("claimable_balance.json", balance)
    check("fee_stats.json", server.fee_stats().call())
    check("ledgers_page.json", server.ledgers().limit(3).call())
    check("not_found_404.json",
          requests.get(f"{sim.url}/accounts/{Keypair.random().public_key}", timeout=5).json())


def _post(sim, path, tx) -> requests.Response:
    return requests.post(sim.url + path, data={"tx": tx.to_xdr()}, timeout=10)


def test_submission_responses_match_horizon(sim, server, funded):
    a, b = funded(), funded()
    check("submit_success.json", _post(sim, "/transactions",
                                       build(server, sim.passphrase, a, pay(b.public_key, "1"),
                                             memo="Test Transaction")).json())
    account = server.load_account(a.public_key)
    account.sequence += 3
    stale = TransactionBuilder(account, sim.passphrase, 100).append_payment_op(
        b.public_key, Asset.native(), "1").set_timeout(30).build()
    stale.sign(a)
    check("submit_error_bad_seq.json", _post(sim, "/transactions", stale).json())
    check("submit_error_insufficient_fee.json", _post(
        sim, "/transactions", build(server, sim.passphrase, a, pay(b.public_key, "1"), fee=1)
    ).json())
    check("submit_error_op_no_destination.json", _post(
        sim, "/transactions", build(server, sim.passphrase, a,
                                    pay(Keypair.random().public_key, "1"))).json())
    check("submit_error_op_no_trust.json", _post(
        sim, "/transactions", build(server, sim.passphrase, a,
                                    pay(b.public_key, "1", Asset("X", b.public_key)))).json())
    check("submit_error_op_underfunded.json", _post(
        sim, "/transactions", build(server, sim.passphrase, a, pay(b.public_key, "99999"))).json())
    sim.add_fault("submit_timeout", count=1)
    check("timeout_504.json", _post(sim, "/transactions",
                                    build(server, sim.passphrase, a, pay(b.public_key, "1"))
                                    ).json() | {"type": "transaction_submission_timeout"})
    sim.add_fault("submit_error", status=504, applied=False, count=1)
    generic = _post(sim, "/transactions", build(server, sim.passphrase, a, pay(b.public_key, "1")))
    assert generic.status_code == 504
    check("timeout_504_generic.json", generic.json())


def test_async_responses_match_horizon(sim, server, funded):
    a, b = funded(), funded()
    tx = build(server, sim.passphrase, a, pay(b.public_key, "1"))
    pending = _post(sim, "/transactions_async", tx)
    duplicate = _post(sim, "/transactions_async", tx)
    account = server.load_account(a.public_key)
    account.sequence += 1
    later = TransactionBuilder(account, sim.passphrase, 100).append_payment_op(
        b.public_key, Asset.native(), "1").set_timeout(30).build()
    later.sign(a)
    try_again = _post(sim, "/transactions_async", later)
    error = _post(sim, "/transactions_async",
                  build(server, sim.passphrase, b, pay(a.public_key, "1"), fee=1))
    assert [r.status_code for r in (pending, duplicate, try_again, error)] == [201, 409, 503, 400]
    check("submit_async_pending.json", pending.json())
    check("submit_async_duplicate.json", duplicate.json())
    check("submit_async_try_again_later.json", try_again.json())
    check("submit_async_error.json", error.json())
