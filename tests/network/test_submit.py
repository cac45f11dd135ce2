"""Submit an envelope and learn its fate, on both backends: what each answer proves."""

import time
from decimal import Decimal

import pytest
from stellar_sdk import Asset, Keypair, TransactionEnvelope

from anchor_dramatiq.network.answers import Admission, Applied, NoReply, NotFound, SubmitAnswer
from anchor_dramatiq.network.horizon import HorizonNetwork
from anchor_dramatiq.network.rpc import RpcNetwork
from anchor_dramatiq.vocabulary import NetworkApi

from .conftest import network_on


def wait_applied(network, tx_hash: str, timeout: float = 15.0) -> Applied:
    deadline = time.monotonic() + timeout
    while True:
        fate = network.fate(tx_hash)
        if isinstance(fate, Applied) or time.monotonic() > deadline:
            assert isinstance(fate, Applied), fate
            return fate
        time.sleep(0.1)


def payment(to: str, amount: str = "1"):
    return lambda b: b.append_payment_op(to, Asset.native(), amount)


def tx_hash(envelope_xdr: str, sim) -> str:
    return TransactionEnvelope.from_xdr(envelope_xdr, sim.passphrase).hash_hex()


def test_submit_then_fate_applied_with_horizon_paging_token(network, payer, sim):
    source, dest = payer.funded(), payer.funded()
    envelope = payer.envelope(source, payment(dest.public_key))
    answer = network.submit(envelope)
    assert isinstance(answer, SubmitAnswer) and answer.admission == Admission.ACCEPTED
    assert answer.hash == tx_hash(envelope, sim)
    fate = wait_applied(network, answer.hash)
    assert fate.successful and fate.ledger > 0 and fate.result_xdr
    horizon = payer.server.transactions().transaction(answer.hash).call()
    assert fate.paging_token == horizon["paging_token"] and fate.ledger == horizon["ledger"]


def test_duplicate_submit_is_duplicate_or_an_unbelieved_bad_seq(network, payer, sim):
    source, dest = payer.funded(), payer.funded()
    envelope = payer.envelope(source, payment(dest.public_key))
    first, second = network.submit(envelope), network.submit(envelope)
    assert isinstance(first, SubmitAnswer) and first.admission == Admission.ACCEPTED
    assert isinstance(second, SubmitAnswer)
    # Core says DUPLICATE while it still holds it, tx_bad_seq once it applied: the caller
    # settles by hash either way, and it applied once.
    assert second.admission == Admission.DUPLICATE or second.tx_code == "tx_bad_seq"
    assert wait_applied(network, first.hash).successful
    assert sim.balance(dest.public_key) == Decimal("10001")


def test_refused_with_result_codes(network, payer, sim):
    source, dest = payer.funded(), payer.funded()
    envelope = payer.envelope(source, payment(dest.public_key), sequence_offset=5)
    answer = network.submit(envelope)
    assert isinstance(answer, SubmitAnswer) and answer.admission == Admission.REFUSED
    assert answer.tx_code == "tx_bad_seq" and answer.result_xdr
    fate = network.fate(answer.hash)
    assert isinstance(fate, NotFound) and fate.latest_ledger >= sim.latest_ledger - 1


def test_unknown_hash_past_the_bound_proves_it_never_applies(network, payer, sim):
    source, dest = payer.funded(), payer.funded()
    since = sim.latest_ledger
    envelope = payer.envelope(source, payment(dest.public_key))  # built, never sent
    max_ledger = since + 2
    sim.wait_for_ledgers(3)
    fate = network.fate(tx_hash(envelope, sim))
    assert isinstance(fate, NotFound) and fate.proves_unapplied(since, max_ledger)
    assert not fate.proves_unapplied(since, fate.latest_ledger + 5)  # still could apply


LAGGING = {NetworkApi.HORIZON: "lagging_node", NetworkApi.RPC: "rpc_lagging_node"}


def test_a_lagging_node_proves_nothing_about_an_applied_transaction(network, payer, sim):
    source, dest = payer.funded(), payer.funded()
    since = sim.latest_ledger
    envelope = payer.envelope(source, payment(dest.public_key))
    answer = network.submit(envelope)
    assert isinstance(answer, SubmitAnswer)
    applied = wait_applied(network, answer.hash)
    sim.add_fault(LAGGING[network.api], ledgers=100_000)
    fate = network.fate(answer.hash)
    # Not found by a node far behind: never evidence, whatever bound the caller holds.
    assert isinstance(fate, NotFound) and fate.latest_ledger < applied.ledger
    assert not fate.proves_unapplied(since, applied.ledger + 1)
    sim.clear_faults()
    assert isinstance(network.fate(answer.hash), Applied)


def test_rpc_try_again_later(sim, payer):
    net = network_on(NetworkApi.RPC, sim)
    source, dest = payer.funded(), payer.funded()
    envelope = payer.envelope(source, payment(dest.public_key))
    sim.add_fault("rpc_try_again_later", count=1)
    answer = net.submit(envelope)
    assert isinstance(answer, SubmitAnswer) and answer.admission == Admission.TRY_AGAIN_LATER
    assert isinstance(net.fate(answer.hash), NotFound)
    again = net.submit(envelope)
    assert isinstance(again, SubmitAnswer) and again.admission == Admission.ACCEPTED
    assert wait_applied(net, again.hash).successful
    net.close()


@pytest.mark.parametrize("applied", [True, False])
def test_rpc_json_rpc_error_on_submit_is_no_reply(sim, payer, applied):
    """A JSON-RPC error leaves the outcome unknown: the hash is looked up, never guessed."""
    net = network_on(NetworkApi.RPC, sim)
    source, dest = payer.funded(), payer.funded()
    envelope = payer.envelope(source, payment(dest.public_key))
    sim.add_fault("rpc_error", count=1, match="sendTransaction", applied=applied)
    assert isinstance(net.submit(envelope), NoReply)
    if applied:
        assert wait_applied(net, tx_hash(envelope, sim)).successful
    else:
        sim.wait_for_ledgers(2)
        assert isinstance(net.fate(tx_hash(envelope, sim)), NotFound)
    net.close()


def test_submit_to_a_dead_url_is_no_reply(sim, payer):
    envelope = payer.envelope(payer.funded(), payment(Keypair.random().public_key))
    for net in (HorizonNetwork("http://127.0.0.1:9", timeout=2),
                RpcNetwork("http://127.0.0.1:9/rpc", sim.passphrase, timeout=2)):
        assert isinstance(net.submit(envelope), NoReply)
        net.close()
