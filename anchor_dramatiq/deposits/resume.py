"""``resume_deposits``: re-derive deposit work from the database, so a lost message only delays.

Nudges ``submit_deposit`` for: ready/unblocked deposits not picked up within the claim
timeout (their message was lost); ``processing`` deposits whose claim expired (the claimer
died before storing an envelope); submissions still ``built``/``submitted`` after the
submitting worker's grace (their fate is settled by hash); multisig envelopes the anchor
has finished signing; and, with channel accounts, one ``pay_ready_deposits`` per free
channel that ready deposits can fill (the pipeline's refill, if its messages were lost).
Every nudge is idempotent, so a doubled sweep is harmless.
"""

from __future__ import annotations

import datetime as dt

from peewee import JOIN

from anchor_dramatiq.config import Settings, get_settings
from anchor_dramatiq.db import utcnow
from anchor_dramatiq.deposits.messages import send_submit
from anchor_dramatiq.deposits.pipeline import nudge, uses_pipeline
from anchor_dramatiq.deposits.submit import grace_seconds
from anchor_dramatiq.models import Submission, SubmissionItem, Transaction
from anchor_dramatiq.vocabulary import (
    DEPOSIT_KINDS,
    SubmissionPurpose,
    SubmissionState,
    SubmissionStatus,
    TransactionStatus,
)

SWEEP_LIMIT = 1000


def resume_deposits(settings: Settings | None = None) -> int:
    """One sweep; returns how many nudges were sent."""
    settings = settings or get_settings()
    now = utcnow()
    stale_claim = now - dt.timedelta(seconds=settings.claim_timeout)
    ours = Transaction.kind.in_(DEPOSIT_KINDS) & (Transaction.status == TransactionStatus.PENDING_ANCHOR)
    ids: list = []
    ids += [t.id for t in Transaction.select(Transaction.id).where(
        ours & Transaction.submission_status.in_((SubmissionStatus.READY, SubmissionStatus.UNBLOCKED,
                                                  SubmissionStatus.PROCESSING))
        & (Transaction.queued_at.is_null() | (Transaction.queued_at < stale_claim))).limit(SWEEP_LIMIT)]
    ids += [t.id for t in Transaction.select(Transaction.id).where(
        ours & (Transaction.submission_status == SubmissionStatus.BLOCKED)
        & (Transaction.pending_signatures == False)  # noqa: E712
        & Transaction.envelope_xdr.is_null(False)).limit(SWEEP_LIMIT)]
    settle_before = now - dt.timedelta(seconds=grace_seconds(settings))
    stuck = (Submission.select(Submission.id, SubmissionItem.transaction_id)
             .join(SubmissionItem, JOIN.INNER).where(
                 Submission.state.in_((SubmissionState.BUILT,
                                       SubmissionState.SUBMITTED)) & (SubmissionItem.op_index == 0)
                 & (Submission.purpose == SubmissionPurpose.DEPOSIT)
                 & (Submission.created_at < settle_before)
                 & (Submission.submitted_at.is_null() | (Submission.submitted_at < settle_before)))
             .limit(SWEEP_LIMIT).objects())
    ids += [row.transaction_id for row in stuck]
    sent = 0
    for transaction_id in dict.fromkeys(ids):
        sent += send_submit(transaction_id)
    if uses_pipeline():
        sent += nudge(settings)  # ready deposits and free channels: fill them
    return sent
