"""What the jobs are doing, read from the database: shared by ``status`` and the metrics.

Everything here is a read of the tables at the moment of the call, so every process that
reports it (the status command, each process's metrics endpoint) reports the same numbers.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from peewee import fn
from stellar_sdk import xdr

from anchor_dramatiq.crypto import Secret
from anchor_dramatiq.db import utcnow
from anchor_dramatiq.models import (
    Channel,
    JobRun,
    Payment,
    Payout,
    Refund,
    Submission,
    SubmissionItem,
    Transaction,
)
from anchor_dramatiq.payments.accounts import asset_accounts
from anchor_dramatiq.vocabulary import (
    FINAL_STATUSES,
    LIVE_SUBMISSION_STATES,
    PROBLEM_OUTCOMES,
    OperationKind,
    PaymentOutcome,
    PayoutState,
    RefundState,
    SubmissionPurpose,
    SubmissionState,
    TransactionStatus,
)

#: Statuses in which the anchor (these jobs), not the user or wallet, must act next.
ANCHOR_SIDE_STATUSES = (TransactionStatus.PENDING_USER_TRANSFER_COMPLETE, TransactionStatus.PENDING_EXTERNAL,
                        TransactionStatus.PENDING_ANCHOR, TransactionStatus.PENDING_STELLAR)
LATENCY_WINDOW = dt.timedelta(hours=1)
LATENCY_QUANTILES = (0.5, 0.9, 0.99)


def _age(now: dt.datetime, moment: dt.datetime | None) -> float | None:
    return None if moment is None else max((now - moment).total_seconds(), 0.0)


def transaction_counts() -> dict[str, dict[str, int]]:
    """Transactions by kind, then status."""
    counts: dict[str, dict[str, int]] = {}
    query = (Transaction.select(Transaction.kind, Transaction.status, fn.COUNT(Transaction.id))
             .group_by(Transaction.kind, Transaction.status).tuples())
    for kind, state, count in query:
        counts.setdefault(kind, {})[state] = count
    return counts


def oldest_open_transactions() -> dict[str, dict[str, float]]:
    """Per kind and non-final status: seconds since the oldest such transaction started."""
    now = utcnow()
    out: dict[str, dict[str, float]] = {}
    query = (Transaction.select(Transaction.kind, Transaction.status, fn.MIN(Transaction.started_at))
             .where(Transaction.status.not_in(list(FINAL_STATUSES)))
             .group_by(Transaction.kind, Transaction.status).tuples())
    for kind, state, started in query:
        age = _age(now, Transaction.started_at.python_value(started))
        if age is not None:
            out.setdefault(kind, {})[state] = age
    return out


def submission_counts() -> dict[str, int]:
    query = Submission.select(Submission.state, fn.COUNT(Submission.id)).group_by(Submission.state)
    return dict(query.tuples())


def oldest_live_submissions() -> dict[str, float | None]:
    """Per live state (built, submitted): seconds since the oldest such envelope was stored."""
    now = utcnow()
    query = (Submission.select(Submission.state, fn.MIN(Submission.created_at))
             .where(Submission.state.in_(LIVE_SUBMISSION_STATES)).group_by(Submission.state).tuples())
    return {state: _age(now, Submission.created_at.python_value(created)) for state, created in query}


def submission_latency() -> dict[str, Any]:
    """Seconds from stored envelope to settled, for submissions settled in the last hour."""
    since = utcnow() - LATENCY_WINDOW
    rows = (Submission.select(Submission.created_at, Submission.settled_at)
            .where(Submission.settled_at >= since, Submission.state != SubmissionState.EXPIRED).tuples())
    latencies = sorted(max((settled - created).total_seconds(), 0.0) for created, settled in rows)
    quantiles = {}
    for q in LATENCY_QUANTILES:
        if latencies:
            quantiles[str(q)] = latencies[min(int(q * len(latencies)), len(latencies) - 1)]
    return {"count": len(latencies), "sum": sum(latencies), "quantiles": quantiles}


def deposit_pipeline(limit: int = 5000) -> dict[str, Any]:
    """Channel utilisation and fees of deposit envelopes that landed in the last hour.

    ``utilisation`` is landed envelopes over (channels x ledgers from the first to the last
    of them): 1.0 means every channel carried a transaction in every ledger. The fee is
    what the ledger charged (read from each result), per deposit paid.
    """
    since = utcnow() - LATENCY_WINDOW
    landed = list(Submission.select(Submission.id, Submission.ledger, Submission.result_xdr,
                                    Submission.channel)
                  .where((Submission.purpose == SubmissionPurpose.DEPOSIT)
                         & Submission.state.in_((SubmissionState.SUCCEEDED, SubmissionState.FAILED))
                         & (Submission.settled_at >= since) & Submission.ledger.is_null(False))
                  .order_by(Submission.id.desc()).limit(limit))
    channels = Channel.select().count()
    out: dict[str, Any] = {"channel_accounts": channels, "envelopes": len(landed)}
    if not landed:
        return out
    ledgers = max(s.ledger for s in landed) - min(s.ledger for s in landed) + 1
    paid = (SubmissionItem.select().join(Submission)
            .where(Submission.id.in_([s.id for s in landed if s.result_xdr])
                   & (Submission.state == SubmissionState.SUCCEEDED)
                   & (SubmissionItem.op_kind != OperationKind.CREATE_ACCOUNT)).count())
    fees = sum(xdr.TransactionResult.from_xdr(s.result_xdr).fee_charged.int64
               for s in landed if s.result_xdr)
    on_channels = sum(1 for s in landed if s.channel)
    out.update(ledgers=ledgers, deposits_paid=paid, deposits_per_ledger=paid / ledgers,
               utilisation=(on_channels / (channels * ledgers)) if channels else None,
               fee_stroops_per_deposit=(fees / paid) if paid else None)
    return out


def payment_counts() -> dict[str, int]:
    """Recorded incoming payments by outcome."""
    query = Payment.select(Payment.outcome, fn.COUNT(Payment.id)).group_by(Payment.outcome).tuples()
    return dict(query)


def oldest_pending_payment() -> float | None:
    """Seconds since the oldest payment still waiting to be processed was recorded."""
    oldest = (Payment.select(fn.MIN(Payment.recorded_at))
              .where(Payment.outcome == PaymentOutcome.PENDING).scalar())
    return _age(utcnow(), Payment.recorded_at.python_value(oldest))


def last_ticks() -> dict[str, float | None]:
    """Per periodic tick actor: seconds since its last claimed tick (a stopped scheduler shows here)."""
    now = utcnow()
    query = JobRun.select(JobRun.actor, fn.MAX(JobRun.created_at)).group_by(JobRun.actor).tuples()
    return {actor: _age(now, JobRun.created_at.python_value(last)) for actor, last in query}


def stuck_items(older_than: float) -> dict[str, list[dict[str, Any]]]:
    """Work waiting on the anchor for longer than ``older_than`` seconds.

    Transactions: in an anchor-side status and started that long ago (Polaris keeps no time
    of the last status change). Submissions: built or submitted that long ago. Payments:
    recorded that long ago and not processed yet.
    """
    now = utcnow()
    cutoff = now - dt.timedelta(seconds=older_than)
    transactions = [
        {"id": str(t.id), "kind": t.kind, "status": t.status, "started_at": t.started_at.isoformat(),
         "age_seconds": _age(now, t.started_at)}
        for t in Transaction.select().where(Transaction.status.in_(ANCHOR_SIDE_STATUSES),
                                            Transaction.started_at < cutoff)
        .order_by(Transaction.started_at)
    ]
    submissions = [
        {"hash": s.hash, "state": s.state, "purpose": s.purpose, "source_account": s.source_account,
         "created_at": s.created_at.isoformat(), "age_seconds": _age(now, s.created_at)}
        for s in Submission.select().where(Submission.state.in_(LIVE_SUBMISSION_STATES),
                                           Submission.created_at < cutoff)
        .order_by(Submission.created_at)
    ]
    payments = [
        {"operation_id": p.operation_id, "account": p.account, "recorded_at": p.recorded_at.isoformat(),
         "age_seconds": _age(now, p.recorded_at)}
        for p in Payment.select().where(Payment.outcome == PaymentOutcome.PENDING,
                                        Payment.recorded_at < cutoff)
        .order_by(Payment.recorded_at)
    ]
    return {"transactions": transactions, "submissions": submissions, "payments": payments}


def _waiting() -> Any:
    """Payments in the inbox: a problem outcome and no refund paid yet."""
    refunded = Refund.select(Refund.payment).where(Refund.state == RefundState.PAID)
    return Payment.outcome.in_(PROBLEM_OUTCOMES) & Payment.id.not_in(refunded)


def inbox() -> list[dict[str, Any]]:
    """Per outcome and asset: payments waiting for a person, their value, the oldest's age."""
    now = utcnow()
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    query = (Payment.select(Payment.outcome, Payment.asset_code, Payment.asset_issuer, Payment.amount,
                            Payment.recorded_at).where(_waiting()))
    for p in query:
        asset = p.asset_code if not p.asset_issuer else f"{p.asset_code}:{p.asset_issuer}"
        group = groups.setdefault((p.outcome, asset), {"outcome": p.outcome, "asset": asset, "count": 0,
                                                       "value": Decimal(0), "oldest_age_seconds": 0.0})
        group["count"] += 1
        group["value"] += p.amount or Decimal(0)
        group["oldest_age_seconds"] = max(group["oldest_age_seconds"], _age(now, p.recorded_at) or 0.0)
    return [{**g, "value": str(g["value"])} for _, g in sorted(groups.items())]


def problem_payments(limit: int = 50) -> list[dict[str, Any]]:
    """The newest payments in the inbox (unmatched, late, ambiguous, rejected, held for their
    amount, with no refund paid): money an operator must place."""
    query = (Payment.select().where(_waiting())
             .order_by(Payment.recorded_at.desc()).limit(limit))
    return [
        {"operation_id": p.operation_id, "outcome": p.outcome, "reason": p.reason, "account": p.account,
         "from": p.from_address, "amount": str(p.amount) if p.amount is not None else None,
         "asset": f"{p.asset_code}:{p.asset_issuer}" if p.asset_code else p.asset_type,
         "memo": p.memo, "memo_type": p.memo_type, "transaction_hash": p.transaction_hash,
         "recorded_at": p.recorded_at.isoformat()}
        for p in query
    ]


def held_payouts(limit: int = 50) -> list[dict[str, Any]]:
    """Payouts whose call started and whose outcome is unknown: a person (or payout_status) decides."""
    query = (Payout.select().where(Payout.state == PayoutState.HELD)
             .order_by(Payout.started_at, Payout.id).limit(limit))
    return [{"transaction_id": str(p.transaction_id), "attempt": p.attempt,
             "idempotency_key": p.idempotency_key,
             "started_at": p.started_at.isoformat() if p.started_at else None,
             "status_message": p.status_message} for p in query]


def held_payout_count() -> int:
    return Payout.select().where(Payout.state == PayoutState.HELD).count()


def asset_seeds(secret_key: Secret | None) -> dict[str, str | None] | None:
    """Per asset with a distribution seed ("CODE:ISSUER"): None when its seed is usable, else
    why not (a reason that never holds the seed). None when ``ANCHOR_SECRET_KEY`` is unset.

    Such an asset is neither streamed nor paid from; every other asset keeps working.
    """
    if secret_key is None:
        return None
    found = asset_accounts(secret_key)
    return {**dict.fromkeys(found.accounts), **found.invalid}
