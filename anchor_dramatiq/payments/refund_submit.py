"""Paying a refund on Stellar exactly once, through the same submission engine as deposits.

Read top to bottom: the refund's newest stored submission is settled by hash, and no new
one is built while it may still apply; when there is none, or the last one expired on
evidence or applied and failed, an envelope is built -- a payment from the distribution
account that received the money, to its sender, in the asset it came in, with a ``return``
memo holding the payment's transaction hash; a leased channel as source when the anchor
has channels; ledger bounds and the network fee as for deposits -- and stored in
``anchor_submission`` together with the check that the refund has no live or paid
submission, then submitted. Two runs at once, a rerun, a timeout after it landed: all
converge on the one stored envelope.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid

from stellar_sdk import Account, Keypair, ReturnHashMemo, TransactionBuilder
from stellar_sdk import Asset as SdkAsset

from anchor_dramatiq.config import Settings
from anchor_dramatiq.db import database, is_postgres, is_sqlite
from anchor_dramatiq.models import Asset, Channel, Payment, Refund, Submission, SubmissionItem
from anchor_dramatiq.network.interface import Network
from anchor_dramatiq.network.shared import shared_network
from anchor_dramatiq.payments.refunds import record_failed, record_paid
from anchor_dramatiq.stellar import channels
from anchor_dramatiq.stellar.keys import channel_keypair, distribution_account, distribution_keypair
from anchor_dramatiq.stellar.submission import (
    Outcome,
    account_state,
    max_ledger_for,
    network_fee,
    new_submission,
    settle,
    settled_outcome,
    submit,
)
from anchor_dramatiq.vocabulary import (
    LIVE_SUBMISSION_STATES,
    OperationKind,
    RefundState,
    SubmissionPurpose,
    SubmissionState,
)

log = logging.getLogger(__name__)

ROUNDS = 3  # settle, then (after an expiry on evidence, or another run's store) once more
SETTLE_BACKOFF_S = (1.0, 2.0, 4.0, 8.0)
LEASE_AFTER_MAX_TIME = dt.timedelta(seconds=30)  # as deposits: the channel is free once it cannot apply

#: What a failed refund's operation code means for the person who asked for it.
FAILURES = {
    "op_no_trust": "the sender's account no longer trusts the asset (trustline removed): nothing "
                   "was sent; the refund can be run again once the sender trusts it again",
    "op_not_authorized": "the sender is not authorized to hold the asset: nothing was sent",
    "op_no_destination": "the sender's account no longer exists (merged): nothing was sent",
    "op_line_full": "the sender's trustline cannot hold the amount (limit reached): nothing was sent",
    "op_underfunded": "the distribution account cannot cover the refund: nothing was sent; fund "
                      "it, then run the refund again",
}


def latest_submission(refund_id: uuid.UUID) -> Submission | None:
    """The newest envelope stored for this refund."""
    return (Submission.select().join(SubmissionItem)
            .where(SubmissionItem.transaction_id == refund_id).order_by(Submission.id.desc()).first())


def pay_refund(refund_id: uuid.UUID, settings: Settings) -> str:
    """Move the refund on as far as evidence allows: ``paid``, ``failed`` or ``pending``.

    ``pending`` means its envelope's fate is not known yet (or no channel was free): run it
    again later; it never builds a second envelope while one may still apply.
    """
    network = shared_network(settings)
    for _ in range(ROUNDS):
        refund = Refund.get_by_id(refund_id)
        if refund.state == RefundState.PAID:
            return RefundState.PAID
        latest = latest_submission(refund.id)
        if latest is not None and latest.state == SubmissionState.SUCCEEDED:
            outcome: Outcome | None = settled_outcome(latest)
        elif latest is not None and latest.state in LIVE_SUBMISSION_STATES:
            outcome = settle(network, latest)
        else:
            outcome = _send_new(network, refund, settings)
        if outcome is None or outcome.state == SubmissionState.EXPIRED:
            continue  # another run stored one, no channel was free, or it died: look again
        return _apply(refund, outcome)
    return SubmissionState.PENDING


def pay_refund_until_settled(refund_id: uuid.UUID, settings: Settings, patience_s: float) -> str:
    """:func:`pay_refund`, looking again while its fate is unknown, for up to ``patience_s``."""
    deadline = time.monotonic() + patience_s
    attempt = 0
    state = pay_refund(refund_id, settings)
    while state == SubmissionState.PENDING and time.monotonic() < deadline:
        time.sleep(SETTLE_BACKOFF_S[min(attempt, len(SETTLE_BACKOFF_S) - 1)])
        attempt += 1
        state = pay_refund(refund_id, settings)
    return state


def _apply(refund: Refund, outcome: Outcome) -> str:
    submission = outcome.submission
    if outcome.state == SubmissionState.PENDING:
        if outcome.tx_code:
            log.warning("refund %s: submission %s refused (%s); it stays live and is looked at again",
                        refund.id, submission.hash, outcome.tx_code)
        return SubmissionState.PENDING
    channels.release(submission.channel, submission.hash)
    if outcome.state == SubmissionState.SUCCEEDED:
        record_paid(refund, submission.hash)
        return RefundState.PAID
    codes = [c for c in outcome.op_codes if c != "op_success"] or [outcome.tx_code or "unknown"]
    why = FAILURES.get(codes[0], f"the refund's transaction failed ({', '.join(codes)}): nothing was sent")
    record_failed(refund, f"{why} (transaction {submission.hash})")
    return RefundState.FAILED


def _distribution(payment: Payment, settings: Settings) -> Keypair:
    """The keypair of the distribution account that received the payment."""
    for asset in Asset.select().where(Asset.distribution_seed.is_null(False)).order_by(Asset.id):
        if asset.distribution_seed and distribution_account(asset, settings.key()) == payment.account:
            return distribution_keypair(asset, settings.key())
    raise LookupError(f"no asset's distribution account is {payment.account}")


def _asset(payment: Payment) -> SdkAsset:
    if payment.asset_type == "native":
        return SdkAsset.native()
    return SdkAsset(payment.asset_code, payment.asset_issuer)


def _send_new(network: Network, refund: Refund, settings: Settings) -> Outcome | None:
    """Build, store and submit a new envelope; None when none may be stored now."""
    payment = Payment.get_by_id(refund.payment_id)
    distribution = _distribution(payment, settings)
    lease = None
    if Channel.select().exists():
        lease = channels.lease(settings)
        if lease is None:
            log.info("refund %s: no free channel; looking again later", refund.id)
            return None
    try:
        envelope = _build(network, refund, payment, distribution, lease, settings)
        submission = _store(envelope, refund, lease)
    except BaseException:
        if lease:
            channels.release(lease.public_key, lease.token)
        raise
    if submission is None:
        if lease:
            channels.release(lease.public_key, lease.token)
        return None
    return submit(network, submission)


def _build(network: Network, refund: Refund, payment: Payment, distribution: Keypair,
           lease: channels.ChannelLease | None, settings: Settings):
    source_key = lease.public_key if lease else distribution.public_key
    builder = TransactionBuilder(Account(source_key, account_state(network, source_key).sequence),
                                 settings.network_passphrase, base_fee=network_fee(network, settings))
    builder.add_time_bounds(0, int(time.time()) + settings.tx_timeout)
    builder.set_ledger_bounds(0, max_ledger_for(network, settings.tx_timeout))
    builder.add_memo(ReturnHashMemo(bytes.fromhex(payment.transaction_hash)))
    builder.append_payment_op(refund.destination, _asset(payment), str(refund.amount),
                              source=distribution.public_key)
    envelope = builder.build()
    if lease:
        envelope.sign(channel_keypair(lease.channel, settings.key()))
    envelope.sign(distribution)
    return envelope


def _store(envelope, refund: Refund, lease: channels.ChannelLease | None) -> Submission | None:
    """Store the envelope unless the refund is paid or has one that may still apply."""
    atomic = database.atomic(lock_type="IMMEDIATE") if is_sqlite() else database.atomic()
    with atomic:
        query = Refund.select().where(Refund.id == refund.id)
        if is_postgres():
            query = query.for_update()
        row = query.first()
        latest = latest_submission(refund.id)
        if row.state == RefundState.PAID or (
                latest is not None and latest.state in (*LIVE_SUBMISSION_STATES, SubmissionState.SUCCEEDED)):
            return None
        submission = new_submission(envelope, purpose=SubmissionPurpose.REFUND,
                                    channel=lease.public_key if lease else None,
                                    items=[(refund.id, 0, OperationKind.PAYMENT)])
        if lease:
            expires = dt.datetime.fromtimestamp(submission.max_time, dt.UTC) + LEASE_AFTER_MAX_TIME
            channels.hand_over(lease.public_key, lease.token, submission.hash, expires)
        Refund.update(state=RefundState.REQUESTED, reason=None).where(Refund.id == refund.id).execute()
    log.info("refund %s: envelope %s stored", refund.id, submission.hash)
    return submission
