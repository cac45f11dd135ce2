"""Channel accounts: created on simnet, leased one holder at a time, used as transaction source."""

from __future__ import annotations

from decimal import Decimal

from anchor_dramatiq.deposits import submit_deposit
from anchor_dramatiq.models import Channel, Submission, Transaction
from anchor_dramatiq.stellar import channels


def test_channels_are_created_leased_and_used(anchor):
    keys = channels.create(anchor.network(), anchor.distribution, 2, anchor.settings)
    assert len(keys) == 2 and Channel.select().count() == 2
    assert all(anchor.sim.account(key) is not None for key in keys)
    first = channels.lease(anchor.settings)
    second = channels.lease(anchor.settings)
    assert first and second and first.public_key != second.public_key
    assert channels.lease(anchor.settings) is None  # both held
    channels.release(first.public_key, first.token)
    channels.release(second.public_key, second.token)

    wallet = anchor.wallet()
    deposit = anchor.deposit(wallet.public_key, "2")
    assert submit_deposit(deposit.id) == "succeeded"
    submission = Submission.get(Submission.purpose == "deposit")
    assert submission.channel in keys and submission.source_account == submission.channel
    assert Transaction.get_by_id(deposit.id).status == "completed"
    assert anchor.balance(wallet.public_key) == Decimal(2)
    assert Channel.get_by_id(submission.channel).lease_owner is None  # released once settled


def test_channel_funding_answered_with_a_504_after_it_applied_is_settled_not_repeated(anchor):
    """The funding transaction lands although Horizon answered 504: the keys are registered
    from the hash lookup, and no second funding transaction is built (no key is lost)."""
    anchor.sim.add_fault("submit_timeout", applied=True, count=1)
    anchor.sim.add_fault("read_error", status=404, match="/transactions/", count=2)
    keys = channels.create(anchor.network(), anchor.distribution, 3, anchor.settings)
    assert len(keys) == 3 and Channel.select().count() == 3
    assert all(anchor.sim.account(key) is not None for key in keys)
    funding = list(Submission.select().where(Submission.purpose == "channels"))
    assert [s.state for s in funding] == ["succeeded"]
    assert funding[0].max_ledger is not None  # ledger-bounded like every envelope
