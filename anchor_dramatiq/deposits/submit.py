"""``submit_deposit``: pay one ready deposit (and ready batch-mates) exactly once.

Read top to bottom: a deposit with a stored submission is settled by hash (never paid
anew while that submission could still apply); otherwise it is claimed, its destination
checked, a batch of ready deposits of the same asset formed, the envelope built, stored
together with the check that none of those deposits has a live submission, then submitted.
Two workers with the same message, a redelivery after a crash, or a sweep's nudge all
converge on the one stored submission.
"""

from __future__ import annotations

import logging
import random
import uuid

from stellar_sdk import Keypair

from anchor_dramatiq.config import Settings, get_settings
from anchor_dramatiq.crashpoints import crash_point
from anchor_dramatiq.db import utcnow
from anchor_dramatiq.deposits import multisig
from anchor_dramatiq.deposits.batch import (
    block_all,
    build_envelope,
    encodable,
    plan_operations,
    store_envelope,
    within_balance,
    within_operations,
)
from anchor_dramatiq.deposits.claims import back_to_ready, claim, claim_mates, current_submission
from anchor_dramatiq.deposits.destination import load_destinations
from anchor_dramatiq.deposits.messages import send_submit
from anchor_dramatiq.deposits.outcomes import apply_outcome, conclude
from anchor_dramatiq.errors import NoAnswer
from anchor_dramatiq.models import Asset as AssetRow
from anchor_dramatiq.models import Channel, Submission, SubmissionItem, Transaction
from anchor_dramatiq.network.interface import Network
from anchor_dramatiq.network.shared import shared_network
from anchor_dramatiq.stellar import channels
from anchor_dramatiq.stellar.keys import channel_keypair, distribution_keypair
from anchor_dramatiq.stellar.submission import (
    Outcome,
    account_state,
    fee_bump,
    network_fee,
    settle,
    settled_outcome,
    store_fee_bump,
    submit,
)
from anchor_dramatiq.vocabulary import (
    DEPOSIT_KINDS,
    DepositResult,
    SubmissionState,
    SubmissionStatus,
    TransactionStatus,
)

log = logging.getLogger(__name__)

MAX_LOOK_DELAY_S = 60.0


def grace_seconds(settings: Settings) -> float:
    """How long a stored submission belongs to the worker that stored it (it is submitting)."""
    return settings.horizon_timeout + 1.0


def look_again_ms(submission: Submission, settings: Settings) -> int:
    """When to look at a live submission again: half its age, at least the grace period, at
    most a minute, jittered, so a long outage is not hammered by every deposit in step."""
    grace = grace_seconds(settings)
    age = (utcnow() - submission.created_at).total_seconds()
    delay = min(MAX_LOOK_DELAY_S, max(grace, age / 2)) * random.uniform(0.8, 1.2)
    return int(max(grace, delay) * 1000) + 200


def submit_deposit(transaction_id: str | uuid.UUID, settings: Settings | None = None) -> DepositResult:
    """Do whatever the deposit needs now; returns what it did (see :class:`DepositResult`).

    Raises :class:`NoAnswer` when the network did not say what the distribution or a
    destination account holds (or the fee, or the pace): the claims were given back first,
    so Dramatiq's retry starts over.
    """
    settings = settings or get_settings()
    settings.require("secret_key")
    tid = uuid.UUID(str(transaction_id))
    transaction = (Transaction.select(Transaction, AssetRow).join(AssetRow)
                   .where(Transaction.id == tid).first())
    if transaction is None or transaction.kind not in DEPOSIT_KINDS \
            or transaction.status != TransactionStatus.PENDING_ANCHOR:
        return DepositResult.NOTHING_TO_DO
    network = shared_network(settings)
    submission = current_submission(tid)
    if submission is not None:
        return _continue(network, transaction, submission, settings)
    if not claim(tid, settings.claim_timeout):
        return DepositResult.HELD_ELSEWHERE
    return _pay(network, transaction, settings)


# --------------------------------------------------------------------------- existing work


def _lead(submission: Submission) -> uuid.UUID:
    return submission.items.order_by(SubmissionItem.op_index).first().transaction_id


def _continue(network: Network, transaction: Transaction, submission: Submission,
              settings: Settings) -> DepositResult:
    if submission.state == SubmissionState.SUCCEEDED:
        apply_outcome(settled_outcome(submission), settings)
        return DepositResult.SUCCEEDED
    adopted = False
    held = transaction.submission_status in (SubmissionStatus.BLOCKED, SubmissionStatus.UNBLOCKED)
    if held and transaction.envelope_xdr:
        why_not = multisig.adopt_signed_envelope(transaction, submission, settings.network_passphrase)
        if why_not:
            return why_not
        adopted = True  # stored to wait for signatures, never sent: this worker sends it now
    elif transaction.submission_status == SubmissionStatus.BLOCKED:
        # Held for a person: its envelope is settled when evidence comes, never resent.
        outcome = settle(network, submission, resubmit=False)
        if outcome.state == SubmissionState.PENDING:
            return DepositResult.BLOCKED
        apply_outcome(outcome, settings)
        return DepositResult(outcome.state)
    elif held and not _resume_claim(transaction):
        return DepositResult.HELD_ELSEWHERE
    last = submission.submitted_at or submission.created_at
    wait = grace_seconds(settings) - (utcnow() - last).total_seconds()
    if wait > 0 and not adopted:
        # The worker that stored or last sent it is still waiting on the network; look after it.
        if _lead(submission) == transaction.id:
            send_submit(transaction.id, delay_ms=int(wait * 1000) + 200)
        return DepositResult.IN_FLIGHT
    return _handle(network, settle(network, submission), settings)


def _resume_claim(transaction: Transaction) -> bool:
    """The operator unblocked a deposit whose envelope is still live: this worker takes it."""
    return bool(Transaction.update(submission_status=SubmissionStatus.PROCESSING, status_message=None,
                                   queued_at=utcnow())
                .where((Transaction.id == transaction.id)
                       & (Transaction.status == TransactionStatus.PENDING_ANCHOR)
                       & (Transaction.submission_status == SubmissionStatus.UNBLOCKED)).execute())


def _handle(network: Network, outcome: Outcome, settings: Settings) -> DepositResult:
    def bump(submission: Submission) -> Outcome | None:
        bumped = bump_fee(network, submission, settings)
        return submit(network, bumped) if bumped is not None else None

    return conclude(outcome, settings, bump=bump, look_again=lambda submission: send_submit(
        _lead(submission), delay_ms=look_again_ms(submission, settings)))


def bump_fee(network: Network, submission: Submission, settings: Settings) -> Submission | None:
    """Wrap the same inner transaction in a higher fee, if the cap leaves room to bid more."""
    envelope_ops = _op_count(submission)
    fee_ops = envelope_ops + (1 if submission.hash != submission.inner_hash else 0)
    current = submission.fee // fee_ops
    bid = min(settings.max_fee_stroops, max(network_fee(network, settings, fresh=True), current * 2))
    if bid <= current:
        log.warning("submission %s: surge above the fee cap (%s stroops); waiting for it to pass "
                    "or the envelope to expire", submission.hash, settings.max_fee_stroops)
        return None
    source = _fee_source(submission, settings)
    bump = fee_bump(submission, source, bid, settings.network_passphrase)
    log.info("submission %s: fee-bump to %s stroops per operation", submission.hash, bid)
    return store_fee_bump(submission, bump)


def _op_count(submission: Submission) -> int:
    return max(1, submission.items.count())


def _fee_source(submission: Submission, settings: Settings) -> Keypair:
    if submission.channel:
        channel = Channel.get_by_id(submission.channel)
        return channel_keypair(channel, settings.key())
    item = submission.items.first()
    asset = Transaction.get_by_id(item.transaction_id).asset
    return distribution_keypair(asset, settings.key())


# --------------------------------------------------------------------------- new payment


def _pay(network: Network, lead: Transaction, settings: Settings) -> DepositResult:
    if not encodable([lead]):
        return DepositResult.ERROR
    asset = lead.asset
    distribution = distribution_keypair(asset, settings.key())
    try:
        distribution_state = account_state(network, distribution.public_key, [(asset.code, asset.issuer)])
    except NoAnswer:
        back_to_ready([lead.id], nudge=False)
        raise
    needs_signers = multisig.needs_more_signatures(distribution_state)
    mates = [] if (lead.memo or needs_signers) else claim_mates(lead, settings.batch_size - 1)
    mates = encodable(mates)
    batch = [lead, *mates]
    try:
        destinations = load_destinations(network, batch)
    except NoAnswer:
        back_to_ready([lead.id], nudge=False)
        back_to_ready([m.id for m in mates])
        raise
    plan, left = within_operations(plan_operations(batch, destinations, settings))
    back_to_ready([t.id for t, _ in left])
    plan = within_balance(plan, distribution_state, asset)
    if not plan:
        return DepositResult.NOT_PAYABLE_NOW
    lease = None
    if Channel.select().exists():
        lease = channels.lease(settings, multisig.VALIDITY_S if needs_signers else None)
        if lease is None:
            back_to_ready([t.id for t, _ in plan], nudge=False)
            send_submit(lead.id, delay_ms=1000)
            return DepositResult.NO_FREE_CHANNEL
    elif needs_signers:
        block_all(plan, "the distribution account needs more signers, which needs channel accounts: "
                         "run `anchor-dramatiq channels create N`, then set submission_status to 'unblocked'")
        return DepositResult.BLOCKED
    try:
        envelope, items = build_envelope(network, plan, distribution, lease, needs_signers, settings)
    except NoAnswer:
        if lease:
            channels.release(lease.public_key, lease.token)
        back_to_ready([t.id for t, _ in plan if t.id != lead.id])
        back_to_ready([lead.id], nudge=False)
        raise
    submission = store_envelope(envelope, items, lease, lead, needs_signers)
    if submission is None:
        if lease:
            channels.release(lease.public_key, lease.token)
        return DepositResult.ALREADY_STORED_ELSEWHERE
    if needs_signers:
        return DepositResult.AWAITING_SIGNATURES
    crash_point("stored")
    outcome = submit(network, submission)
    crash_point("submitted")
    return _handle(network, outcome, settings)


