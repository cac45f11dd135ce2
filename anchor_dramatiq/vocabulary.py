"""The anchor's words: every status, state, kind and outcome the flows store, compare or return.

Each is a :class:`~enum.StrEnum` whose values are exactly the strings in the database
(Polaris's own values for ``polaris_transaction``), so a member compares equal to the
stored text, goes into a peewee query as it is, and prints as the plain word. No other
module spells these words as string literals (``tests/foundation/test_vocabulary.py``
checks).
"""

from __future__ import annotations

from enum import StrEnum


class TransactionStatus(StrEnum):
    """``polaris_transaction.status``: Polaris 2.6's ``Transaction.STATUS``."""

    COMPLETED = "completed"
    PENDING_EXTERNAL = "pending_external"
    PENDING_ANCHOR = "pending_anchor"
    PENDING_STELLAR = "pending_stellar"
    PENDING_TRUST = "pending_trust"
    PENDING_USER = "pending_user"
    PENDING_USER_TRANSFER_START = "pending_user_transfer_start"
    PENDING_USER_TRANSFER_COMPLETE = "pending_user_transfer_complete"
    PENDING_CUSTOMER_INFO_UPDATE = "pending_customer_info_update"
    PENDING_TRANSACTION_INFO_UPDATE = "pending_transaction_info_update"
    PENDING_SENDER = "pending_sender"
    PENDING_RECEIVER = "pending_receiver"
    INCOMPLETE = "incomplete"
    NO_MARKET = "no_market"
    TOO_SMALL = "too_small"
    TOO_LARGE = "too_large"
    ERROR = "error"
    REFUNDED = "refunded"
    EXPIRED = "expired"


#: Statuses after which nothing more happens to a transaction.
FINAL_STATUSES = frozenset({
    TransactionStatus.COMPLETED, TransactionStatus.REFUNDED, TransactionStatus.EXPIRED,
    TransactionStatus.ERROR, TransactionStatus.NO_MARKET, TransactionStatus.TOO_SMALL,
    TransactionStatus.TOO_LARGE,
})


class TransactionKind(StrEnum):
    """``polaris_transaction.kind``: which SEP flow the transaction belongs to."""

    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    SEND = "send"
    DEPOSIT_EXCHANGE = "deposit-exchange"
    WITHDRAWAL_EXCHANGE = "withdrawal-exchange"


DEPOSIT_KINDS = (TransactionKind.DEPOSIT, TransactionKind.DEPOSIT_EXCHANGE)
WITHDRAWAL_KINDS = (TransactionKind.WITHDRAWAL, TransactionKind.WITHDRAWAL_EXCHANGE)

#: Where a withdrawal or send waits for the user's payment on Stellar, by kind.
WAITING_STATUS = {TransactionKind.WITHDRAWAL: TransactionStatus.PENDING_USER_TRANSFER_START,
                  TransactionKind.WITHDRAWAL_EXCHANGE: TransactionStatus.PENDING_USER_TRANSFER_START,
                  TransactionKind.SEND: TransactionStatus.PENDING_SENDER}


def ready_status(kind: str) -> TransactionStatus:
    """Where a paid transaction goes: SEP-31 sends wait for the receiver, SEP-6/24 for the anchor."""
    if kind == TransactionKind.SEND:
        return TransactionStatus.PENDING_RECEIVER
    return TransactionStatus.PENDING_ANCHOR


class SubmissionStatus(StrEnum):
    """``polaris_transaction.submission_status``: where a deposit is in being paid on Stellar.

    ``blocked`` waits for a person (the message says what to fix); they set ``unblocked``.
    """

    NOT_READY = "not_ready"
    READY = "ready"
    PROCESSING = "processing"
    PENDING_FUNDING = "pending_funding"
    PENDING_TRUST = "pending_trust"
    BLOCKED = "blocked"
    UNBLOCKED = "unblocked"
    COMPLETED = "completed"
    FAILED = "failed"


class SubmissionState(StrEnum):
    """``anchor_submission.state``: ``built`` -> ``submitted`` -> ``succeeded`` | ``failed`` |
    ``expired``, settled by hash only.

    ``pending`` is never stored: it is an :class:`~anchor_dramatiq.stellar.submission.Outcome`
    whose fate is not known yet (look again later).
    """

    BUILT = "built"
    SUBMITTED = "submitted"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"
    PENDING = "pending"


LIVE_SUBMISSION_STATES = (SubmissionState.BUILT, SubmissionState.SUBMITTED)


class SubmissionPurpose(StrEnum):
    """``anchor_submission.purpose``: what a stored Stellar transaction is for."""

    DEPOSIT = "deposit"
    CHANNELS = "channels"
    REFUND = "refund"


class OperationKind(StrEnum):
    """``anchor_submission_item.op_kind``: what one operation of a deposit's submission does."""

    CREATE_ACCOUNT = "create_account"
    PAYMENT = "payment"
    CLAIMABLE_BALANCE = "claimable_balance"


class PaymentOutcome(StrEnum):
    """``anchor_payment.outcome``: what became of one incoming payment.

    ``late``: its transaction had expired or was not waiting yet. ``overpaid``/``underpaid``:
    held by the asset's amount policy, linked to the transaction it would pay. ``internal``:
    from the issuer or an operator's own account (treasury movements, never refunded).
    """

    PENDING = "pending"
    MATCHED = "matched"
    UNMATCHED = "unmatched"
    AMBIGUOUS = "ambiguous"
    REJECTED = "rejected"
    LATE = "late"
    OVERPAID = "overpaid"
    UNDERPAID = "underpaid"
    INTERNAL = "internal"


#: Payments a person has to look at.
PROBLEM_OUTCOMES = (PaymentOutcome.UNMATCHED, PaymentOutcome.AMBIGUOUS, PaymentOutcome.REJECTED,
                    PaymentOutcome.LATE, PaymentOutcome.OVERPAID, PaymentOutcome.UNDERPAID)

#: Payments a later transaction may still claim (see ``payments/rematch.py``).
REMATCH_OUTCOMES = (PaymentOutcome.UNMATCHED, PaymentOutcome.LATE)

#: Where a transaction waits before it may take a payment (a payment for it now is ``late``).
NOT_YET_WAITING = (TransactionStatus.INCOMPLETE,)


class NetworkApi(StrEnum):
    """``ANCHOR_NETWORK_API``: which Stellar API the jobs speak (``anchor_dramatiq/network``)."""

    HORIZON = "horizon"
    RPC = "rpc"


class AmountPolicy(StrEnum):
    """What a payment whose amount differs from ``amount_expected`` does (per asset)."""

    ACCEPT = "accept"  # as Polaris: matched, the rails see amount_in
    HOLD = "hold"  # overpaid/underpaid, for a person


class RefundState(StrEnum):
    """``anchor_refund.state``: ``requested`` -> ``paid`` | ``failed`` (applied and failed;
    nothing moved: may be requested again)."""

    REQUESTED = "requested"
    PAID = "paid"
    FAILED = "failed"


class PayoutState(StrEnum):
    """``anchor_payout.state``: ``queued`` -> ``started`` -> ``done`` | ``held`` -> ``released``."""

    QUEUED = "queued"
    STARTED = "started"
    DONE = "done"
    HELD = "held"
    RELEASED = "released"


class PayoutStatus(StrEnum):
    """What the bank says about a payout, asked by its idempotency key (``payout_status``)."""

    PAID = "paid"
    NOT_PAID = "not_paid"
    UNKNOWN = "unknown"


class DepositResult(StrEnum):
    """What one ``submit_deposit`` run did (logs and tests read it; nothing is stored).

    ``succeeded`` / ``failed`` / ``expired`` / ``pending`` are the settled (or not yet
    settled) fate of the deposit's submission; the others say why nothing was sent now.
    """

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"
    PENDING = "pending"
    NOTHING_TO_DO = "nothing to do"
    HELD_ELSEWHERE = "held elsewhere"
    IN_FLIGHT = "in flight"
    BLOCKED = "blocked"
    ERROR = "error"
    NOT_PAYABLE_NOW = "not payable now"
    NO_FREE_CHANNEL = "no free channel"
    ALREADY_STORED_ELSEWHERE = "already stored elsewhere"
    AWAITING_SIGNATURES = "awaiting signatures"
    ENVELOPE_CHANGED = "envelope_xdr no longer matches the stored transaction"
    ADOPTED_ELSEWHERE = "adopted by another worker"


class PayoutResult(StrEnum):
    """What one ``execute_outgoing`` run did, when it did not land a new status (logs, tests)."""

    NOT_READY = "not_ready"
    HELD = "held"  # claimed by another worker
    PAYOUT_HELD = "payout_held"  # needs payout_status or a person
    LOST = "lost"  # our claim was taken
    CALL = "call"  # (payouts.begin only) the rails may be called now


class SaveResult(StrEnum):
    """What saving a payout's result under its claim did."""

    SAVED = "saved"
    LOST = "lost"
    MOVED = "moved"
