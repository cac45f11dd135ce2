"""Which waiting transaction a recorded payment pays, or why none: a decision, no writes.

A payment pays a withdrawal (``withdrawal``/``withdrawal-exchange`` in
``pending_user_transfer_start``) or a send (``pending_sender``) when all of these agree:
the receiving account (the G-address, or the M-address the transaction gave out), the
memo and its type (hash memos in Polaris's base64 form, as Horizon shows them), the asset
code and issuer, and the Stellar transaction succeeded. A payment to an M-address with no
memo is keyed by its muxed id as an ``id`` memo.

A payment that is not a clean match says why, as its outcome: ``rejected`` (nothing usable
received, wrong asset or issuer, wrong memo type), ``unmatched`` (no memo, unknown memo, or
its transaction was already paid), ``late`` (its transaction expired or is not waiting yet),
``ambiguous``, and ``internal`` (from an asset's issuer or an account in
``ANCHOR_INTERNAL_ACCOUNTS``: a treasury movement). The amount is compared with
``amount_expected`` only under the asset's ``hold`` policy (``ANCHOR_AMOUNT_POLICY``):
``overpaid``/``underpaid``, linked to the transaction; by default it is accepted as Polaris
does, and the rails integration sees ``amount_in``.

A batch of payments is decided against one :class:`Candidates` snapshot, read in two queries
whatever the batch's size; the matcher tells the snapshot about each transaction it moves, so
each payment is decided as if the batch's earlier payments had been settled one at a time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from peewee import Expression
from stellar_sdk import MuxedAccount

from anchor_dramatiq.config import Settings, get_settings
from anchor_dramatiq.models import Asset, Payment, Transaction
from anchor_dramatiq.payments import PAYMENT_TYPES
from anchor_dramatiq.vocabulary import (
    NOT_YET_WAITING,
    WAITING_STATUS,
    WITHDRAWAL_KINDS,
    AmountPolicy,
    PaymentOutcome,
    TransactionKind,
    TransactionStatus,
)


@dataclass(frozen=True)
class Decision:
    """``matched`` (with the transaction) or ``unmatched``/``ambiguous``/``rejected`` with why."""

    outcome: str
    reason: str | None = None
    transaction: Transaction | None = None


def waiting() -> Expression:
    """:func:`is_waiting` in SQL."""
    return (((Transaction.kind.in_(WITHDRAWAL_KINDS))
             & (Transaction.status == TransactionStatus.PENDING_USER_TRANSFER_START))
            | ((Transaction.kind == TransactionKind.SEND)
               & (Transaction.status == TransactionStatus.PENDING_SENDER)))


def is_waiting(transaction: Transaction) -> bool:
    """A withdrawal in ``pending_user_transfer_start`` or a send in ``pending_sender``."""
    return WAITING_STATUS.get(transaction.kind) == transaction.status


def receiving_accounts(payment: Payment) -> list[str]:
    return [payment.account] + ([payment.to_muxed] if payment.to_muxed else [])


def memo_key(payment: Payment) -> tuple[str, str] | None:
    """``(memo, memo_type)`` to look transactions up by, or None when the payment has none."""
    if payment.memo is not None and payment.memo_type not in (None, "none"):
        return payment.memo, payment.memo_type
    if payment.to_muxed_id:
        return payment.to_muxed_id, "id"
    return None


def _same_issuer(asset: Asset, payment: Payment) -> bool:
    return (asset.issuer or None) == (payment.asset_issuer or None)


def amount_in(payment: Payment, asset: Asset) -> Decimal:
    """The amount received, rounded to the asset's significant decimals as Polaris does."""
    places = Decimal(1).scaleb(-asset.significant_decimals)
    return payment.amount.quantize(places, rounding=ROUND_HALF_EVEN)


def sender_account(payment: Payment) -> str | None:
    """The G-address that sent the payment (an M-address's underlying account)."""
    sender = payment.from_address
    if sender and sender.startswith("M"):
        return MuxedAccount.from_account(sender).account_id
    return sender


@dataclass
class Candidates:
    """What a batch of payments is decided against: every transaction carrying one of the
    batch's memos on one of its receiving accounts (any status, oldest first, with its asset),
    and which of the batch's senders are an asset's issuer. Read in two queries."""

    by_memo: dict[str, list[Transaction]] = field(default_factory=dict)
    issuers: frozenset[str] = frozenset()

    @classmethod
    def load(cls, payments: Iterable[Payment]) -> Candidates:
        payments = list(payments)
        keys = [key for key in map(memo_key, payments) if key is not None]
        accounts = {account for payment in payments for account in receiving_accounts(payment)}
        by_memo: dict[str, list[Transaction]] = {}
        if keys:
            query = (Transaction.select(Transaction, Asset).join(Asset)
                     .where(Transaction.memo.in_(sorted({memo for memo, _ in keys}))
                            & Transaction.receiving_anchor_account.in_(sorted(accounts)))
                     .order_by(Transaction.started_at, Transaction.id))
            for transaction in query:
                by_memo.setdefault(transaction.memo, []).append(transaction)
        senders = {sender for sender in map(sender_account, payments) if sender is not None}
        issuers = frozenset(row.issuer for row in Asset.select(Asset.issuer)
                            .where(Asset.issuer.in_(sorted(senders)))) if senders else frozenset()
        return cls(by_memo, issuers)

    def with_memo(self, memo: str, accounts: list[str]) -> list[Transaction]:
        """The transactions with ``memo`` on one of ``accounts``, oldest first."""
        return [t for t in self.by_memo.get(memo, ()) if t.receiving_anchor_account in accounts]

    def moved(self, transaction_id: uuid.UUID, status: str) -> None:
        """The matcher moved this transaction: later payments of the batch see its new status."""
        for transactions in self.by_memo.values():
            for transaction in transactions:
                if transaction.id == transaction_id:
                    transaction.status = status


def internal_reason(payment: Payment, settings: Settings, issuers: frozenset[str]) -> str | None:
    """Why the payment is the operator's own money moving, or None (``issuers``: the senders
    known to be an asset's issuer)."""
    sender = sender_account(payment)
    if sender is None:
        return None
    if sender in (settings.internal_accounts or ()):
        return f"from {sender}, one of ANCHOR_INTERNAL_ACCOUNTS (a treasury movement)"
    if sender in issuers:
        return f"from {sender}, an asset's issuer (a treasury movement)"
    return None


def _amount_held(payment: Payment, transaction: Transaction, settings: Settings) -> Decision | None:
    """Overpaid/underpaid when the asset's policy holds a wrong amount for a person."""
    expected = transaction.amount_expected
    if expected is None or settings.amount_policy_for(transaction.asset.code) != AmountPolicy.HOLD:
        return None
    received = amount_in(payment, transaction.asset)
    if received == expected:
        return None
    outcome = PaymentOutcome.OVERPAID if received > expected else PaymentOutcome.UNDERPAID
    return Decision(outcome, f"received {received}, transaction {transaction.id} expects {expected} "
                             f"(ANCHOR_AMOUNT_POLICY holds {transaction.asset.code})", transaction)


def _not_waiting(other: Transaction, memo: str) -> Decision:
    if other.status == TransactionStatus.EXPIRED or other.status in NOT_YET_WAITING:
        return Decision(PaymentOutcome.LATE, f"transaction {other.id} with memo {memo!r} is "
                                             f"{other.status}: expired or not waiting yet")
    return Decision(PaymentOutcome.UNMATCHED,
                    f"transaction {other.id} with memo {memo!r} is {other.status}, "
                    "not waiting for a payment")


def decide(payment: Payment, settings: Settings | None = None,
           candidates: Candidates | None = None) -> Decision:
    """The outcome for ``payment`` given the transactions waiting right now (``candidates``:
    a batch's snapshot, read for this payment alone when None)."""
    settings = settings or get_settings()
    candidates = candidates if candidates is not None else Candidates.load([payment])
    if payment.operation_type not in PAYMENT_TYPES:
        return Decision(PaymentOutcome.REJECTED,
                        f"operation type {payment.operation_type} cannot pay a withdrawal")
    if not payment.successful:
        return Decision(PaymentOutcome.REJECTED, "the Stellar transaction failed; nothing was received")
    if payment.amount is None or payment.amount <= 0:
        return Decision(PaymentOutcome.REJECTED, f"no amount received ({payment.amount})")
    internal = internal_reason(payment, settings, candidates.issuers)
    if internal is not None:
        return Decision(PaymentOutcome.INTERNAL, internal)
    key = memo_key(payment)
    if key is None:
        return Decision(PaymentOutcome.UNMATCHED, "payment has no memo")
    memo, memo_type = key
    known = candidates.with_memo(memo, receiving_accounts(payment))
    found = [t for t in known if is_waiting(t)]
    if not found:
        if known:
            return _not_waiting(known[-1], memo)  # the latest transaction with this memo
        return Decision(PaymentOutcome.UNMATCHED, f"no transaction waits for memo {memo!r} ({memo_type})")
    typed = [t for t in found if (t.memo_type or "text") == memo_type]
    if not typed:
        t = found[0]
        return Decision(PaymentOutcome.REJECTED, f"memo type {memo_type} does not match transaction {t.id} "
                                    f"(memo type {t.memo_type})")
    coded = [t for t in typed if t.asset.code == payment.asset_code]
    if not coded:
        t = typed[0]
        return Decision(PaymentOutcome.REJECTED, f"asset {payment.asset_code} is not transaction {t.id}'s "
                                    f"asset {t.asset.code}")
    exact = [t for t in coded if _same_issuer(t.asset, payment)]
    if not exact:
        t = coded[0]
        return Decision(PaymentOutcome.REJECTED,
                        f"asset issuer {payment.asset_issuer} is not transaction {t.id}'s "
                                    f"issuer {t.asset.issuer} (same code, different asset)")
    if len(exact) > 1:
        ids = ", ".join(str(t.id) for t in exact)
        return Decision(PaymentOutcome.AMBIGUOUS, f"{len(exact)} transactions wait for this payment: {ids}")
    return _amount_held(payment, exact[0], settings) or Decision(PaymentOutcome.MATCHED, None, exact[0])
