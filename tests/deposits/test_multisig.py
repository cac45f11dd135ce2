"""Multisig distribution accounts on simnet: Polaris's pending_signatures contract end to end."""

from __future__ import annotations

from decimal import Decimal

from stellar_sdk import Keypair, Signer, TransactionBuilder

from anchor_dramatiq.deposits import resume_deposits, submit_deposit
from anchor_dramatiq.models import Channel, Submission, Transaction
from anchor_dramatiq.stellar import channels


def make_multisig(anchor) -> Keypair:
    """Distribution master weight 1, a co-signer of weight 1, medium threshold 2."""
    cosigner = Keypair.random()
    anchor.submit(anchor.distribution, lambda b: b.append_set_options_op(
        master_weight=1, low_threshold=1, med_threshold=2, high_threshold=2,
        signer=Signer.ed25519_public_key(cosigner.public_key, 1)))
    return cosigner


def test_deposit_waits_for_signatures_then_is_submitted_once(anchor, broker):
    [channel] = channels.create(anchor.network(), anchor.distribution, 1, anchor.settings)
    cosigner = make_multisig(anchor)
    wallet = anchor.wallet()
    deposit = anchor.deposit(wallet.public_key, "7.25")
    other = anchor.deposit(anchor.wallet().public_key, "1")  # never batched with a multisig envelope

    assert submit_deposit(deposit.id) == "awaiting signatures"
    row = Transaction.get_by_id(deposit.id)
    assert row.status == "pending_anchor" and row.submission_status == "blocked"
    assert row.pending_signatures is True and row.envelope_xdr and "sign envelope_xdr" in row.status_message
    [stored] = Submission.select().where(Submission.purpose == "deposit")
    assert stored.state == "built" and stored.channel == channel and stored.source_account == channel
    assert Channel.get_by_id(channel).lease_owner == stored.hash
    envelope = TransactionBuilder.from_xdr(row.envelope_xdr, anchor.settings.network_passphrase)
    assert envelope.hash_hex() == stored.hash and len(envelope.signatures) == 2  # channel + distribution
    assert anchor.balance(wallet.public_key) == 0 and anchor.payments_to(wallet.public_key) == []
    assert Transaction.get_by_id(other.id).submission_status == "ready"
    # Nothing moves while signatures are pending: not a message, not the sweep.
    assert submit_deposit(deposit.id) == "awaiting signatures"
    broker.flush_all()
    resume_deposits(anchor.settings)
    assert broker.queues["stellar"].qsize() == 0  # (`other` was just queued: not stale yet)

    # The anchor adds the co-signer's signature and flips the flag, as with Polaris.
    envelope.sign(cosigner)
    (Transaction.update(envelope_xdr=envelope.to_xdr(), pending_signatures=False)
     .where(Transaction.id == deposit.id).execute())
    assert resume_deposits(anchor.settings) == 1  # the sweep sends the signed deposit
    assert submit_deposit(deposit.id) == "succeeded"
    assert submit_deposit(deposit.id) == "nothing to do"

    row = Transaction.get_by_id(deposit.id)
    assert row.status == "completed" and row.submission_status == "completed"
    assert row.pending_signatures is False and row.stellar_transaction_id == stored.hash
    assert row.amount_out == Decimal("7.25") and row.completed_at is not None and row.paging_token
    [settled] = Submission.select().where(Submission.purpose == "deposit")
    assert settled.state == "succeeded" and settled.hash == stored.hash
    assert Channel.get_by_id(channel).lease_owner is None
    assert anchor.sim.transaction(stored.hash)["successful"]
    assert anchor.balance(wallet.public_key) == Decimal("7.25")
    assert len(anchor.payments_to(wallet.public_key)) == 1


def test_signed_envelope_that_no_longer_matches_is_not_submitted(anchor):
    channels.create(anchor.network(), anchor.distribution, 1, anchor.settings)
    make_multisig(anchor)
    wallet = anchor.wallet()
    deposit = anchor.deposit(wallet.public_key, "3")
    assert submit_deposit(deposit.id) == "awaiting signatures"
    # Someone saves a different transaction in envelope_xdr: it must never be sent for this deposit.
    foreign = anchor.wallet()
    with anchor.server() as server:
        builder = TransactionBuilder(server.load_account(foreign.public_key),
                                     anchor.settings.network_passphrase, 100)
        envelope = builder.append_bump_sequence_op(0).set_timeout(60).build()
    envelope.sign(foreign)
    (Transaction.update(envelope_xdr=envelope.to_xdr(), pending_signatures=False)
     .where(Transaction.id == deposit.id).execute())
    assert submit_deposit(deposit.id) == "envelope_xdr no longer matches the stored transaction"
    row = Transaction.get_by_id(deposit.id)
    assert row.status == "pending_anchor" and row.submission_status == "blocked"
    assert Submission.get(Submission.purpose == "deposit").state == "built"
    assert anchor.balance(wallet.public_key) == 0 and anchor.payments_to(wallet.public_key) == []
