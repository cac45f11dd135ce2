"""The deposit pipeline: keep every channel account carrying one full transaction per ledger.

``pay_ready`` leases a free channel, claims a batch of ready deposits (one asset's, oldest
first, assets taking turns), builds an envelope of up to 100 operations, stores it, and
hands it to core without waiting for a ledger (Horizon's ``/transactions_async``, RPC's
``sendTransaction``): the worker is free as soon as core
answered, not when the ledger closed. ``settle_batch`` looks the envelope's hash up about
one ledger later, routes its deposits (:mod:`deposits.outcomes`) and releases the channel,
then fills it again with the next batch. A channel's lease is held by the stored
submission's hash until the family is settled, so a channel never carries two transactions
at once; when the ledger is full (surge) envelopes wait in core's queue, channels stay
leased, nothing new is built, and looks back off with the envelope's attempts: no tight
loop. Every guarantee of ``submit_deposit`` holds: the envelope is stored before it is
sent, settled by evidence only, and its deposits have no other live submission.
"""

from __future__ import annotations

import logging
import math
import random

from anchor_dramatiq import dbclock
from anchor_dramatiq.config import Settings, get_settings
from anchor_dramatiq.crashpoints import crash_point
from anchor_dramatiq.db import utcnow
from anchor_dramatiq.deposits import multisig
from anchor_dramatiq.deposits.batch import (
    build_envelope,
    encodable,
    plan_operations,
    store_envelope,
    within_balance,
    within_operations,
)
from anchor_dramatiq.deposits.claims import back_to_ready, claim_batch, ready_count
from anchor_dramatiq.deposits.destination import load_destinations
from anchor_dramatiq.deposits.messages import send_pay_ready, send_settle_batch
from anchor_dramatiq.deposits.outcomes import conclude
from anchor_dramatiq.deposits.submit import bump_fee
from anchor_dramatiq.errors import NoAnswer
from anchor_dramatiq.models import Channel, Submission
from anchor_dramatiq.network.interface import Network
from anchor_dramatiq.network.shared import shared_network
from anchor_dramatiq.stellar import channels
from anchor_dramatiq.stellar.keys import distribution_keypair
from anchor_dramatiq.stellar.submission import Outcome, account_state, ledger_pace, settle, submit_async
from anchor_dramatiq.vocabulary import DepositResult, SubmissionPurpose

log = logging.getLogger(__name__)

MAX_LOOK_DELAY_S = 60.0
NO_ANSWER_LOOK_MS = 5_000  # a stored envelope whose submission or look met no answer
LOOK_MARGIN_S = 0.3  # after the expected close, so the ledger has been ingested


def uses_pipeline() -> bool:
    """The pipeline needs channel accounts; without them ``submit_deposit`` pays directly."""
    return Channel.select().exists()


def free_channels() -> int:
    return (Channel.select().where(Channel.lease_expires_at.is_null()
                                   | (Channel.lease_expires_at < dbclock.now())).count())


def nudge(settings: Settings) -> int:
    """Send one ``pay_ready_deposits`` per free channel that ready deposits can fill."""
    wanted = math.ceil(ready_count(settings.batch_size * 1000) / max(1, settings.batch_size))
    sent = 0
    for _ in range(min(wanted, free_channels())):
        sent += send_pay_ready()
    return sent


def pay_ready(settings: Settings | None = None) -> DepositResult:
    """Fill one free channel with one batch of ready deposits and hand it to core."""
    settings = settings or get_settings()
    settings.require("secret_key")
    lease = channels.lease(settings)
    if lease is None:
        return DepositResult.NO_FREE_CHANNEL
    batch = encodable(claim_batch(settings.batch_size, lease.channel.lease_fence))
    if not batch:
        channels.release(lease.public_key, lease.token)
        return DepositResult.NOTHING_TO_DO
    try:
        return _pay(shared_network(settings), batch, lease, settings)
    except NoAnswer:
        channels.release(lease.public_key, lease.token)
        back_to_ready([t.id for t in batch], nudge=False)
        raise


def _pay(network: Network, batch: list, lease: channels.ChannelLease, settings: Settings) -> DepositResult:
    asset = batch[0].asset
    distribution = distribution_keypair(asset, settings.key())
    distribution_state = account_state(network, distribution.public_key, [(asset.code, asset.issuer)])
    if multisig.needs_more_signatures(distribution_state):
        # Envelopes waiting for signatures are one deposit each: submit_deposit stores them.
        channels.release(lease.public_key, lease.token)
        back_to_ready([t.id for t in batch])
        return DepositResult.AWAITING_SIGNATURES
    plan, left = within_operations(plan_operations(batch, load_destinations(network, batch), settings))
    back_to_ready([t.id for t, _ in left], nudge=False)
    plan = within_balance(plan, distribution_state, asset)
    if not plan:
        channels.release(lease.public_key, lease.token)
        return DepositResult.NOT_PAYABLE_NOW
    if ready_count(1) and free_channels():
        send_pay_ready()  # more work and room for it: the next channel fills while this one builds
    envelope, items = build_envelope(network, plan, distribution, lease, False, settings)
    submission = store_envelope(envelope, items, lease, plan[0][0], False)
    if submission is None:
        channels.release(lease.public_key, lease.token)
        back_to_ready([t.id for t, _ in plan], nudge=False)
        return DepositResult.ALREADY_STORED_ELSEWHERE
    crash_point("stored")
    try:
        outcome = submit_async(network, submission)
        crash_point("submitted_async")
        return _after(network, outcome, settings)
    except NoAnswer:
        # Stored, and maybe in flight: its deposits and its channel stay with the envelope
        # (handing them back as ready would stall the asset's next batches on them); only
        # the look is put off. A lost look is re-sent by the sweep.
        send_settle_batch(submission.id, int(NO_ANSWER_LOOK_MS * random.uniform(0.8, 1.2)))
        return DepositResult.PENDING


def settle_batch(submission_id: int, settings: Settings | None = None) -> DepositResult:
    """Look a pipelined envelope up by hash; route its deposits once settled, then refill."""
    settings = settings or get_settings()
    settings.require("secret_key")
    submission = Submission.get_or_none(Submission.id == submission_id)
    if submission is None or submission.purpose != SubmissionPurpose.DEPOSIT:
        return DepositResult.NOTHING_TO_DO
    network = shared_network(settings)
    try:
        # While its first POST is younger than a ledger the envelope may simply not have
        # reached a close yet: look without POSTing it again (nor backing off).
        first_ledger = _first_post_age_s(submission) < ledger_pace(network)[1]
        return _after(network, settle(network, submission, asynchronous=True, resubmit=not first_ledger),
                      settings)
    except NoAnswer:
        # No evidence either way: look again later (raising would spend the message's
        # retries on a network that is down, and dead-letter it).
        send_settle_batch(submission.id, int(NO_ANSWER_LOOK_MS * random.uniform(0.8, 1.2)))
        return DepositResult.PENDING


def _after(network: Network, outcome: Outcome, settings: Settings) -> DepositResult:
    def bump(submission: Submission) -> Outcome | None:
        bumped = bump_fee(network, submission, settings)
        return submit_async(network, bumped) if bumped is not None else None

    return conclude(outcome, settings, bump=bump, look_again=lambda submission: send_settle_batch(
        submission.id, next_look_ms(network, submission)),
        released=send_pay_ready)  # the channel is free: another worker refills it at once


def _first_post_age_s(submission: Submission) -> float:
    """Seconds since the envelope was first POSTed (infinite if it has been POSTed again)."""
    if (submission.attempts or 0) > 1 or submission.submitted_at is None:
        return math.inf
    return (utcnow() - submission.submitted_at).total_seconds()


def next_look_ms(network: Network, submission: Submission) -> int:
    """When to look at a pipelined envelope, so its channel is refilled soon after the close
    that took it: half a ledger after its first POST, then every third of a ledger until that
    POST is a ledger old (the close time is not known to better than a second, so it is
    sampled); then after 2, 4, 8… ledgers (its POST count), at most a minute. Jittered: a
    surge is never polled tight."""
    _, close_s = ledger_pace(network)
    age = _first_post_age_s(submission)
    if age < close_s:
        delay = close_s / 2 if age < close_s / 4 else close_s / 3
        return int(delay * random.uniform(0.9, 1.1) * 1000)
    attempts = max(1, submission.attempts or 1)
    delay = min(MAX_LOOK_DELAY_S, close_s * 2 ** (attempts - 1)) * random.uniform(0.9, 1.2)
    return int((delay + LOOK_MARGIN_S) * 1000)
