"""Settle recorded payments exactly once, matched or with a reason, a batch at a time.

One code path for one payment and for a batch: the batch's pending payments are read in one
query, decided against one :class:`~anchor_dramatiq.payments.matching.Candidates` snapshot
(two queries) and checked for a finished match (one query), in the order given (the stream's
order), so an earlier payment takes its transaction first exactly as when they were processed
one at a time. The matched transactions then move together in one commit; if any of them
changed meanwhile, the batch is decided again and each moves in its own commit.

The payment row is the claim: its outcome moves from ``pending`` once (a guarded update),
and the transaction moves through :func:`~anchor_dramatiq.transitions.transition`. The
transaction is moved first; a crash before the payment row is settled is recognised on
redelivery because the transaction carries this payment's paging token and hash. A move
that finds the transaction changed (another worker, the API server) starts the rest of the
batch again from a fresh snapshot; what was settled before stays settled.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from anchor_dramatiq.config import Settings, get_settings
from anchor_dramatiq.db import database, utcnow
from anchor_dramatiq.errors import MatchRace, PermanentError
from anchor_dramatiq.models import Payment, Transaction
from anchor_dramatiq.payments.matching import Candidates, Decision, amount_in, decide, receiving_accounts
from anchor_dramatiq.transitions import Move, transition, transition_all
from anchor_dramatiq.vocabulary import WAITING_STATUS, PaymentOutcome, ready_status

log = logging.getLogger(__name__)

#: Failed moves of one payment's transaction before its message is retried (MatchRace).
RACE_ATTEMPTS = 3
#: Most payments read by one query (a longer list is taken in slices).
SLICE = 500


@dataclass
class Settled:
    """What one call settled: the transactions to pay out (by operation id), the ids that name
    no recorded payment, and the payments whose transaction kept changing (still pending)."""

    matched: dict[str, uuid.UUID] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    raced: list[str] = field(default_factory=list)

    def raise_for_leftovers(self) -> None:
        """MatchRace while a payment is still pending (Dramatiq retries; the settled ones are
        no-ops then), else PermanentError for ids that are not recorded."""
        if self.raced:
            raise MatchRace(f"payments {', '.join(self.raced)}: the waiting transaction kept changing; "
                            "will retry")
        if self.missing:
            raise PermanentError(f"payments {', '.join(self.missing)} are not recorded")


@dataclass(frozen=True)
class _Settlement:
    """A payment row's outcome, to be written by a guarded update (from ``pending`` only)."""

    payment: Payment
    outcome: str
    reason: str | None = None
    transaction_id: uuid.UUID | None = None


def _settle(settlements: list[_Settlement]) -> None:
    """Write the outcomes in one database transaction (one commit for a pass, not one per
    payment); a row another worker settled first is left as it is. Rows are written in id
    order, so two workers settling overlapping batches lock them in the same order (no
    deadlock)."""
    with database.atomic():
        changed = [s for s in sorted(settlements, key=lambda s: s.payment.id) if Payment.update(
            outcome=s.outcome, reason=s.reason, transaction_id=s.transaction_id, processed_at=utcnow())
            .where((Payment.id == s.payment.id) & (Payment.outcome == PaymentOutcome.PENDING)).execute()]
    for s in changed:
        log.info("payment %s: %s%s", s.payment.operation_id, s.outcome, f" ({s.reason})" if s.reason else "",
                 extra={"operation_id": s.payment.operation_id, "transaction_id": s.transaction_id})


def _already_matched(payments: list[Payment]) -> dict[int, Transaction]:
    """The transactions these payments already moved (a crash came before their rows were
    settled), by payment id: one query for the batch."""
    if not payments:
        return {}
    accounts = {account for payment in payments for account in receiving_accounts(payment)}
    query = (Transaction.select()
             .where(Transaction.stellar_transaction_id.in_(sorted({p.transaction_hash for p in payments}))
                    & Transaction.paging_token.in_(sorted({p.paging_token for p in payments}))
                    & Transaction.receiving_anchor_account.in_(sorted(accounts))
                    & Transaction.kind.in_(tuple(WAITING_STATUS))))
    moved = list(query)
    found = {}
    for payment in payments:
        for transaction in moved:
            if (transaction.paging_token == payment.paging_token
                    and transaction.stellar_transaction_id == payment.transaction_hash
                    and transaction.receiving_anchor_account in receiving_accounts(payment)):
                found[payment.id] = transaction
                break
    return found


def _amount_note(transaction: Transaction, received: Decimal) -> str | None:
    if transaction.amount_expected is not None and received != transaction.amount_expected:
        return f"amount {received} differs from amount_expected {transaction.amount_expected}"
    return None


def _pending(payment_ids: list[int]) -> list[Payment]:
    """These payments re-read, in the same order, those still pending."""
    rows = {p.id: p for p in Payment.select().where(Payment.id.in_(payment_ids))}
    return [rows[i] for i in payment_ids if i in rows and rows[i].outcome == PaymentOutcome.PENDING]


def _unmatched(held: list[tuple[Payment, Decision]], settled: Settled) -> list[_Settlement]:
    """Settlements for payments that match nothing; first look again for a finished match: a
    concurrent copy of the message may have moved the transaction since the snapshot, or its
    payment would be recorded unmatched (and refunded)."""
    done = _already_matched([payment for payment, _ in held])
    settlements = []
    for payment, decision in held:
        if payment.id in done:
            settlements.append(_Settlement(payment, PaymentOutcome.MATCHED, None, done[payment.id].id))
            settled.matched[payment.operation_id] = done[payment.id].id
            continue
        linked = decision.transaction.id if decision.transaction is not None else None
        settlements.append(_Settlement(payment, decision.outcome, decision.reason, linked))
    return settlements


MoveFn = Callable[[Move], bool]


def _decide(queue: list[Payment], settings: Settings, settled: Settled, races: Counter[int],
            move: MoveFn) -> tuple[list[_Settlement], list[tuple[Payment, Decision]], list[Payment]]:
    """Decide ``queue`` against one snapshot, in order, moving each matched transaction with
    ``move``: the matched payments' settlements, the payments that match nothing (with their
    decision), and the payments to take again from a fresh snapshot (from the first whose
    transaction changed under us)."""
    candidates = Candidates.load(queue)
    done = _already_matched(queue)
    settlements: list[_Settlement] = []
    held: list[tuple[Payment, Decision]] = []
    for position, payment in enumerate(queue):
        finished = done.get(payment.id)
        if finished is not None:
            settlements.append(_Settlement(payment, PaymentOutcome.MATCHED, None, finished.id))
            settled.matched[payment.operation_id] = finished.id
            candidates.moved(finished.id, finished.status)
            continue
        decision = decide(payment, settings, candidates)
        if decision.outcome != PaymentOutcome.MATCHED:
            held.append((payment, decision))
            continue
        target = decision.transaction
        assert target is not None  # a match names its transaction
        received = amount_in(payment, target.asset)
        status = ready_status(target.kind)
        if move(Move(target.id, (WAITING_STATUS[target.kind],), status,
                     {"amount_in": received, "from_address": payment.from_address,
                      "stellar_transaction_id": payment.transaction_hash,
                      "paging_token": payment.paging_token})):
            settlements.append(_Settlement(payment, PaymentOutcome.MATCHED, _amount_note(target, received),
                                           target.id))
            settled.matched[payment.operation_id] = target.id
            candidates.moved(target.id, status)
            continue
        races[payment.id] += 1
        if races[payment.id] >= RACE_ATTEMPTS:
            log.warning("payment %s: the waiting transaction kept changing; left for a retry",
                        payment.operation_id, extra={"operation_id": payment.operation_id})
            settled.raced.append(payment.operation_id)
            return settlements, held, queue[position + 1:]
        return settlements, held, queue[position:]
    return settlements, held, []


def _one_at_a_time(move: Move) -> bool:
    return transition(move.transaction_id, move.from_statuses, move.to_status, **move.fields)


def _pass(queue: list[Payment], settings: Settings, settled: Settled,
          races: Counter[int]) -> list[Payment]:
    """Settle ``queue`` against one snapshot; return the payments to take again from a fresh
    one. The pass is planned first and its transactions moved together, in one commit
    (:func:`~anchor_dramatiq.transitions.transition_all`); if any of them changed under us,
    nothing of that commit is kept and the pass runs again from a fresh snapshot, each
    transaction moved in its own commit, exactly as one payment at a time. The payment rows
    are written together at the end of the pass (a crash before that is recognised on
    redelivery, as for one payment)."""
    planned: list[Move] = []

    def plan(move: Move) -> bool:
        planned.append(move)
        return True

    trial = Settled()
    settlements, held, _ = _decide(queue, settings, trial, races, plan)
    if transition_all(planned):
        settled.matched.update(trial.matched)
        again: list[Payment] = []
    else:
        settlements, held, again = _decide(queue, settings, settled, races, _one_at_a_time)
    _settle(settlements + _unmatched(held, settled))
    return _pending([payment.id for payment in again]) if again else []


def process_payments(operation_ids: Iterable[str], settings: Settings | None = None) -> Settled:
    """Settle each recorded payment named (the already settled ones are no-ops): what was
    matched, what is not recorded, and what is still pending because its transaction kept
    changing (see :meth:`Settled.raise_for_leftovers`)."""
    settings = settings or get_settings()
    wanted = list(dict.fromkeys(operation_ids))
    settled = Settled()
    for start in range(0, len(wanted), SLICE):
        part = wanted[start:start + SLICE]
        rows = {p.operation_id: p for p in Payment.select().where(Payment.operation_id.in_(part))}
        settled.missing += [operation_id for operation_id in part if operation_id not in rows]
        queue = [rows[o] for o in part if o in rows and rows[o].outcome == PaymentOutcome.PENDING]
        races: Counter[int] = Counter()
        while queue:
            queue = _pass(queue, settings, settled, races)
    return settled


def process_payment(operation_id: str) -> uuid.UUID | None:
    """Match one payment; return the transaction id to execute, or None (nothing to do).

    Raises :class:`PermanentError` for a payment that is not recorded, and
    :class:`MatchRace` when the waiting transaction kept changing (Dramatiq retries).
    """
    settled = process_payments([operation_id])
    settled.raise_for_leftovers()
    return settled.matched.get(operation_id)


def rejected(operation_ids: Iterable[str]) -> list[str]:
    """Which of these payments are settled ``rejected`` (the refund policy's candidates)."""
    wanted = list(dict.fromkeys(operation_ids))
    return [row.operation_id
            for start in range(0, len(wanted), SLICE)
            for row in Payment.select(Payment.operation_id)
            .where(Payment.operation_id.in_(wanted[start:start + SLICE])
                   & (Payment.outcome == PaymentOutcome.REJECTED))]
