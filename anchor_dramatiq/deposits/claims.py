"""Claims on ready deposits: compare-and-set on ``submission_status``, with an expiry.

``ready``/``unblocked`` -> ``processing`` is a guarded UPDATE, so of two workers holding
the same message exactly one wins. ``queued_at`` records when the claim was taken, on the
database's clock (and is compared with it in SQL, so workers' clocks never matter); a
``processing`` deposit whose claimer died before storing an envelope becomes claimable
again after ``ANCHOR_CLAIM_TIMEOUT``. The store of an envelope is fenced by
:func:`conflicting` under the write lock: at most one live submission per deposit.
Batch-mates are taken with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite: under its
write lock), so concurrent batchers never contend for the same rows.
"""

from __future__ import annotations

import functools
import operator
import uuid
from collections import Counter
from collections.abc import Iterable

from peewee import JOIN, fn

from anchor_dramatiq import dbclock
from anchor_dramatiq.db import database, is_postgres, is_sqlite
from anchor_dramatiq.deposits.messages import send_submit
from anchor_dramatiq.models import Asset, Submission, SubmissionItem, Transaction
from anchor_dramatiq.vocabulary import (
    DEPOSIT_KINDS,
    OperationKind,
    SubmissionState,
    SubmissionStatus,
    TransactionStatus,
)

CLAIMABLE = (SubmissionStatus.READY, SubmissionStatus.UNBLOCKED)


def write_lock():
    """A transaction that holds SQLite's write lock from its first statement."""
    if is_sqlite():
        return database.atomic(lock_type="IMMEDIATE")
    return database.atomic()


def _deposit(transaction_id: uuid.UUID):
    return ((Transaction.id == transaction_id) & Transaction.kind.in_(DEPOSIT_KINDS)
            & (Transaction.status == TransactionStatus.PENDING_ANCHOR))


def claim(transaction_id: uuid.UUID, claim_timeout: int) -> bool:
    """Take a ready (or abandoned) deposit; False if someone else holds it or it moved on."""
    stale = dbclock.shifted(-claim_timeout)
    claimable = (Transaction.submission_status.in_(CLAIMABLE)
                 | ((Transaction.submission_status == SubmissionStatus.PROCESSING)
                    & (Transaction.queued_at.is_null() | (Transaction.queued_at < stale))))
    return bool(Transaction.update(submission_status=SubmissionStatus.PROCESSING, queued_at=dbclock.now())
                .where(_deposit(transaction_id) & claimable
                       & (Transaction.pending_signatures == False))  # noqa: E712
                .execute())


def claim_mates(lead: Transaction, limit: int) -> list[Transaction]:
    """Up to ``limit`` more ready deposits of the same asset without a memo, claimed."""
    if limit <= 0:
        return []
    with write_lock():
        query = (Transaction.select(Transaction.id)
                 .where((Transaction.asset == lead.asset_id) & Transaction.kind.in_(DEPOSIT_KINDS)
                        & (Transaction.status == TransactionStatus.PENDING_ANCHOR)
                        & (Transaction.submission_status == SubmissionStatus.READY)
                        & Transaction.memo.is_null() & (Transaction.id != lead.id)
                        & (Transaction.pending_signatures == False))  # noqa: E712
                 .order_by(Transaction.queued_at).limit(limit))
        if is_postgres():
            query = query.for_update("FOR UPDATE SKIP LOCKED")
        ids = [row.id for row in query]
        if not ids:
            return []
        (Transaction.update(submission_status=SubmissionStatus.PROCESSING, queued_at=dbclock.now())
         .where(Transaction.id.in_(ids)
                & (Transaction.submission_status == SubmissionStatus.READY)).execute())
    return list(Transaction.select(Transaction, Asset).join(Asset)
                .where(Transaction.id.in_(ids)
                       & (Transaction.submission_status == SubmissionStatus.PROCESSING)))


def back_to_ready(transaction_ids: Iterable[uuid.UUID], *, nudge: bool = True) -> list[uuid.UUID]:
    """Give claimed deposits back (nothing was paid) and nudge ``submit_deposit`` for each."""
    moved = []
    for transaction_id in transaction_ids:
        changed = (Transaction.update(submission_status=SubmissionStatus.READY, queued_at=dbclock.now())
                   .where(_deposit(transaction_id)
                          & (Transaction.submission_status == SubmissionStatus.PROCESSING))
                   .execute())
        if changed:
            moved.append(transaction_id)
            if nudge:
                send_submit(transaction_id)
    return moved


# A submission that may still apply, or one that paid the deposit (an account creation
# alone paid nothing: the deposit went on to pending_trust and may be paid later).
_PAYS = (Submission.state.in_((SubmissionState.BUILT, SubmissionState.SUBMITTED))
         | ((Submission.state == SubmissionState.SUCCEEDED)
            & (SubmissionItem.op_kind != OperationKind.CREATE_ACCOUNT)))


def current_submission(transaction_id: uuid.UUID) -> Submission | None:
    """The newest submission that may still pay, or paid, this deposit (at most one family)."""
    return (Submission.select().join(SubmissionItem, JOIN.INNER)
            .where((SubmissionItem.transaction_id == transaction_id) & _PAYS)
            .order_by(Submission.id.desc()).first())


def conflicting(transaction_ids: Iterable[uuid.UUID]) -> bool:
    """True if any of these deposits already has a submission that may pay or paid it."""
    return (Submission.select().join(SubmissionItem, JOIN.INNER)
            .where(SubmissionItem.transaction_id.in_(list(transaction_ids)) & _PAYS)
            .exists())


# How many assets with ready deposits take turns; beyond these, the oldest waits its turn.
FAIR_ASSETS = 20


def _ready() -> object:
    return (Transaction.kind.in_(DEPOSIT_KINDS) & (Transaction.status == TransactionStatus.PENDING_ANCHOR)
            & (Transaction.submission_status == SubmissionStatus.READY)
            & (Transaction.pending_signatures == False))  # noqa: E712


def ready_assets() -> list[int]:
    """Assets with ready deposits, the one waiting longest first."""
    oldest = fn.MIN(Transaction.queued_at)
    return [row.asset_id for row in (Transaction.select(Transaction.asset).where(_ready())
                                     .group_by(Transaction.asset).order_by(oldest)
                                     .limit(FAIR_ASSETS))]


# Most of a batch one wallet takes while other wallets' deposits of the asset wait.
WALLET_SHARE = 0.25


def wallet_of(transaction: Transaction) -> str:
    """Who a deposit is for, for fairness: the wallet application that authenticated it
    (SEP-10 ``client_domain``) when there is one, else the user's Stellar account."""
    return transaction.client_domain or transaction.stellar_account


def _oldest_ready(asset: int, limit: int, *conditions: object) -> list[Transaction]:
    query = (Transaction.select(Transaction.id, Transaction.memo, Transaction.queued_at,
                                Transaction.client_domain, Transaction.stellar_account)
             .where(functools.reduce(operator.and_, conditions, _ready() & (Transaction.asset == asset)))
             .order_by(Transaction.queued_at, Transaction.id).limit(limit))
    if is_postgres():
        query = query.for_update("FOR UPDATE SKIP LOCKED")
    return list(query)


def _not_of(wallets: set[str]) -> object:
    """Deposits whose wallet (:func:`wallet_of`) is none of ``wallets`` (written without NOT
    over a nullable column, which SQL would make unknown rather than true)."""
    return ((Transaction.client_domain.is_null() & Transaction.stellar_account.not_in(list(wallets)))
            | (Transaction.client_domain.is_null(False) & Transaction.client_domain.not_in(list(wallets))))


def fair_share(rows: list[Transaction], limit: int, share: int) -> list[Transaction]:
    """Up to ``limit`` rows, oldest first, each wallet at most ``share`` of them; the places
    left (no other wallet waiting) go to the oldest of the rest."""
    rows = sorted(rows, key=lambda row: (row.queued_at, str(row.id)))
    taken: list[Transaction] = []
    beyond: list[Transaction] = []
    per_wallet: Counter[str] = Counter()
    for row in rows:
        wallet = wallet_of(row)
        if per_wallet[wallet] < share and len(taken) < limit:
            per_wallet[wallet] += 1
            taken.append(row)
        else:
            beyond.append(row)
    taken += beyond[:limit - len(taken)]
    return sorted(taken, key=lambda row: (row.queued_at, str(row.id)))


def claim_batch(limit: int, turn: int) -> list[Transaction]:
    """Claim the oldest ready deposits of one asset, fairly, in one guarded statement.

    Assets with ready deposits take turns (``turn`` picks one, oldest waiting first), so a
    burst for one asset gets its share of the batches and never starves the others. Within
    the asset, oldest first, but a wallet takes at most ``WALLET_SHARE`` of the batch while
    other wallets' deposits wait (their oldest are read too), so a burst for one wallet
    never starves the others. A deposit with a memo is paid alone (the memo is the
    transaction's).
    """
    assets = ready_assets()
    if not assets:
        return []
    asset = assets[turn % len(assets)]
    share = max(1, int(limit * WALLET_SHARE))
    with write_lock():
        rows = _oldest_ready(asset, limit)
        if rows and rows[0].memo is not None:
            rows = rows[:1]
        else:
            rows = [row for row in rows if row.memo is None]
            heavy = {wallet for wallet, count in Counter(map(wallet_of, rows)).items() if count > share}
            if heavy:
                seen = {row.id for row in rows}  # the light wallets' first rows come back again
                rows += [row for row in _oldest_ready(asset, limit, Transaction.memo.is_null(),
                                                      _not_of(heavy)) if row.id not in seen]
            rows = fair_share(rows, limit, share)
        ids = [row.id for row in rows]
        if not ids:
            return []
        (Transaction.update(submission_status=SubmissionStatus.PROCESSING, queued_at=dbclock.now())
         .where(Transaction.id.in_(ids) & (Transaction.submission_status == SubmissionStatus.READY))
         .execute())
    return list(Transaction.select(Transaction, Asset).join(Asset)
                .where(Transaction.id.in_(ids)
                       & (Transaction.submission_status == SubmissionStatus.PROCESSING))
                .order_by(Transaction.queued_at, Transaction.id))


def ready_count(limit: int) -> int:
    """How many deposits are ready (counted up to ``limit``)."""
    return Transaction.select(Transaction.id).where(_ready()).limit(limit).count()
