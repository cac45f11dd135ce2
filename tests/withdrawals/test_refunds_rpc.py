"""Refunds over Stellar RPC (ANCHOR_NETWORK_API=rpc): built, stored, sent with
``sendTransaction`` and settled with ``getTransaction``, exactly once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from stellar_sdk import TextMemo
from support.chain import Chain
from support.factories import make_withdrawal

from anchor_dramatiq import config
from anchor_dramatiq.models import Refund, Submission
from simnet import Simnet

from .test_refunds import payment_for, record_new, refund, refunds_on_ledger

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def chain(sim: Simnet, db: str) -> Chain:
    config.configure(config.get_settings().replace(horizon_url=sim.url, network_api="rpc",
                                                   rpc_url=f"{sim.url}/rpc"))
    return Chain(sim)


@pytest.mark.parametrize("fault", [None, "rpc_error"], ids=["clean", "json-rpc-error-after-admission"])
def test_refund_over_rpc_goes_back_once(chain: Chain, fault: str | None) -> None:
    asset = chain.register()
    make_withdrawal(asset, chain.account, memo="look-alike")
    chain.pay("4", TextMemo("look-alike"), asset=chain.fake_usd)
    record_new(chain)
    payment = payment_for("look-alike", "4")
    chain.sim.add_fault("submit_error", status=503)  # Horizon takes no submission: RPC must
    if fault:  # admitted, then the answer is lost: settled by hash, never sent as a new envelope
        chain.sim.add_fault(fault, applied=True, match="/rpc/sendTransaction", count=1)
    assert refund(payment) == "paid"
    assert [f["kind"] for f in chain.sim.faults()] == ["submit_error"]  # the RPC fault fired
    [back] = refunds_on_ledger(chain, payment)
    assert (back["to"], Decimal(back["amount"])) == (chain.user.public_key, Decimal("4"))
    assert Submission.select().count() == 1 and Submission.get().state == "succeeded"
    row = Refund.get(Refund.payment == payment.id)
    assert (row.state, row.stellar_transaction_id) == ("paid", back["transaction_hash"])
