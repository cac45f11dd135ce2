"""simnet's fault switches on Stellar RPC: a lagging node, TRY_AGAIN_LATER and JSON-RPC
errors, armed like every other fault (``match`` is tested against ``/rpc/<method>``)."""

from __future__ import annotations

import pytest
import requests
from stellar_sdk import Keypair, SorobanServer
from stellar_sdk.exceptions import SorobanRpcErrorResponse
from stellar_sdk.soroban_rpc import GetTransactionStatus, SendTransactionStatus

from simnet import Simnet

from .helpers import build, pay


def _tx(rpc: SorobanServer, sim: Simnet, source: Keypair, dest: Keypair):
    return build(rpc, sim.passphrase, source, pay(dest.public_key, "1"))


def test_lagging_node_says_not_found_for_what_applied(sim, rpc, funded):
    alice, bob = funded(), funded()
    tx = _tx(rpc, sim, alice, bob)
    rpc.send_transaction(tx)
    applied = rpc.poll_transaction(tx.hash_hex(), sleep_strategy=lambda _: 0.1)
    sim.add_fault("rpc_lagging_node", ledgers=50, count=3)
    lagging = rpc.get_transaction(tx.hash_hex())
    assert lagging.status == GetTransactionStatus.NOT_FOUND
    assert lagging.latest_ledger < applied.ledger  # the proof it proves nothing
    events = rpc.get_events(start_ledger=1)
    assert events.latest_ledger == lagging.latest_ledger
    assert all(e.ledger <= events.latest_ledger for e in events.events)
    assert rpc.get_health().latest_ledger == max(1, sim.latest_ledger - 50)
    assert sim.faults() == []  # count used up: the node has caught up
    assert rpc.get_transaction(tx.hash_hex()).status == GetTransactionStatus.SUCCESS


def test_try_again_later_does_not_admit(sim, rpc, funded):
    alice, bob = funded(), funded()
    tx = _tx(rpc, sim, alice, bob)
    sim.add_fault("rpc_try_again_later", count=1)
    assert rpc.send_transaction(tx).status == SendTransactionStatus.TRY_AGAIN_LATER
    sim.wait_for_ledgers(2)
    assert rpc.get_transaction(tx.hash_hex()).status == GetTransactionStatus.NOT_FOUND
    assert rpc.send_transaction(tx).status == SendTransactionStatus.PENDING


@pytest.mark.parametrize("applied", [False, True])
def test_internal_error_on_send_with_or_without_the_transaction(sim, rpc, funded, applied):
    alice, bob = funded(), funded()
    tx = _tx(rpc, sim, alice, bob)
    sim.add_fault("rpc_error", count=1, match="sendTransaction", applied=applied)
    with pytest.raises(SorobanRpcErrorResponse) as err:
        rpc.send_transaction(tx)
    assert err.value.code == -32603
    sim.wait_for_ledgers(2)
    status = rpc.get_transaction(tx.hash_hex()).status
    assert status == (GetTransactionStatus.SUCCESS if applied else GetTransactionStatus.NOT_FOUND)


def test_error_fault_picks_methods_and_codes(sim, rpc):
    sim.add_fault("rpc_error", code=-32001, match="getEvents")
    assert rpc.get_health().status == "healthy"
    with pytest.raises(SorobanRpcErrorResponse) as err:
        rpc.get_events(start_ledger=1)
    assert (err.value.code, err.value.message) == (-32001, "request timed out")
    with pytest.raises(ValueError):
        sim.add_fault("rpc_error", code=500)


def test_faults_armed_over_http(sim, rpc):
    sim.wait_for_ledgers(4)
    armed = requests.post(sim.url + "/_simnet/faults", timeout=10,
                          json={"kind": "rpc_lagging_node", "ledgers": 2, "count": 1})
    assert armed.status_code in (200, 201)
    latest = sim.latest_ledger
    assert rpc.get_latest_ledger().sequence in (latest - 2, latest - 1)
