"""Exactly once over Stellar RPC: what sendTransaction and getTransaction answer is evidence
only as far as it goes (docs/deposits.md, the answer -> decision table's RPC column)."""

from __future__ import annotations

import pytest

from anchor_dramatiq.deposits import submit_deposit
from anchor_dramatiq.models import Submission

from .test_evidence import live_and_alone, wait_out_grace
from .test_faults import paid_once

pytestmark = pytest.mark.parametrize("network_api", ["rpc"])


def test_try_again_later_under_load_is_paid_once_later(anchor, network_api):
    wallet = anchor.wallet()
    deposit = anchor.deposit(wallet.public_key, "4")
    anchor.sim.add_fault("rpc_try_again_later", count=1)
    assert submit_deposit(deposit.id) == "pending"  # not admitted: nothing applied, look later
    stored = live_and_alone()
    assert "TRY_AGAIN_LATER" in (stored.error or "")
    anchor.sim.wait_for_ledgers(2)
    assert anchor.payments_to(wallet.public_key) == []
    wait_out_grace(anchor)
    assert submit_deposit(deposit.id) == "succeeded"  # the same envelope, sent again
    assert Submission.get().attempts == 2
    paid_once(anchor, wallet, deposit, "4")


def test_not_found_from_a_lagging_node_after_it_applied_pays_no_second_time(anchor, network_api):
    wallet = anchor.wallet()
    deposit = anchor.deposit(wallet.public_key, "5")
    # The node takes it, then the answer is lost: the outcome is unknown to the anchor.
    anchor.sim.add_fault("rpc_error", applied=True, match="/rpc/sendTransaction", count=1)
    assert submit_deposit(deposit.id) == "pending"
    stored = live_and_alone()
    anchor.sim.wait_for_ledgers(2)
    assert len(anchor.payments_to(wallet.public_key)) == 1  # it did apply
    # Every lookup now reaches a node far behind: NOT_FOUND, with a latestLedger short of
    # the envelope's bound. The resubmission is refused (txBAD_SEQ: its sequence is used).
    anchor.sim.add_fault("rpc_lagging_node", ledgers=1000, match="/rpc/getTransaction")
    for _ in range(2):
        wait_out_grace(anchor)
        assert submit_deposit(deposit.id) == "pending"
        assert Submission.get_by_id(stored.id).state == "submitted"
    assert Submission.select().count() == 1  # never declared dead, never rebuilt
    anchor.sim.clear_faults()
    wait_out_grace(anchor)
    assert submit_deposit(deposit.id) == "succeeded"
    paid_once(anchor, wallet, deposit, "5")


def test_json_rpc_error_with_the_transaction_applied_is_settled_by_hash(anchor, network_api):
    wallet = anchor.wallet()
    deposit = anchor.deposit(wallet.public_key, "8")
    anchor.sim.add_fault("rpc_error", applied=True, code=-32001, match="/rpc/sendTransaction",
                         count=1)
    assert submit_deposit(deposit.id) == "pending"
    assert "sendTransaction" in (live_and_alone().error or "")
    wait_out_grace(anchor)
    assert submit_deposit(deposit.id) == "succeeded"
    stored = Submission.get()
    assert stored.attempts == 1  # found by its hash: not sent again
    paid_once(anchor, wallet, deposit, "8")
