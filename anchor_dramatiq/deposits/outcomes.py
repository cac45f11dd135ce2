"""What a settled submission means for each deposit it paid, as Polaris records it.

Succeeded: ``completed`` with ``stellar_transaction_id``, ``paging_token``,
``completed_at`` (and ``claimable_balance_id``), then ``after_deposit`` once; an account
created without a payment leaves the deposit in ``pending_trust``. Failed in a batch: the
deposits whose operation failed are routed by their code and the others are paid again in
a new transaction (nothing of a failed transaction applied). Expired: paid again.
Refused by core for a reason a person must fix: held (``blocked``) with the envelope still
live, so it is settled by hash and never replaced while it may apply.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable

from anchor_dramatiq.config import Settings
from anchor_dramatiq.db import utcnow
from anchor_dramatiq.deposits.claims import back_to_ready
from anchor_dramatiq.deposits.destination import forget
from anchor_dramatiq.integrations import RailsIntegration, rails_for
from anchor_dramatiq.models import Submission, SubmissionItem, Transaction
from anchor_dramatiq.stellar import channels
from anchor_dramatiq.stellar.submission import Outcome, claimable_balance_ids
from anchor_dramatiq.transitions import transition, transition_many
from anchor_dramatiq.vocabulary import (
    DepositResult,
    OperationKind,
    SubmissionState,
    SubmissionStatus,
    TransactionStatus,
)

log = logging.getLogger(__name__)

BLOCKING_TX_CODES = {
    "tx_bad_auth": "the distribution or channel account's signatures are not enough (tx_bad_auth); "
                   "fix its signers, then set submission_status to 'unblocked'",
    "tx_insufficient_balance": "the account paying the fee lacks XLM (tx_insufficient_balance); "
                               "fund it, then set submission_status to 'unblocked'",
    "tx_no_source_account": "the transaction's source account does not exist (tx_no_source_account)",
}

# Core's refusals of a POST that waiting does not cure (the envelope itself stays live).
HELD_TX_CODES = frozenset({
    "tx_bad_auth", "tx_insufficient_balance", "tx_no_source_account", "tx_bad_auth_extra",
    "tx_malformed", "tx_not_supported", "tx_bad_sponsorship", "tx_bad_min_seq_age_or_gap",
    "tx_missing_operation",
})


# Operation codes that end a deposit in error, with what the wallet or anchor has to fix.
FAILED_OP_REASONS = {
    "op_line_full": "the destination's trustline limit is too low to receive this amount",
    "op_src_not_authorized": "the distribution account is not authorized to send the asset",
    "op_no_issuer": "the asset's issuer account does not exist",
}


def apply_outcome(outcome: Outcome, settings: Settings, released: Callable[[], object] | None = None
                  ) -> None:
    """Route every deposit of a settled submission; a pending outcome changes nothing.

    ``released`` is called as soon as the channel is free again, before the deposits are
    routed, so the pipeline refills it while this worker completes them.
    """
    if outcome.state == SubmissionState.PENDING:
        return
    submission = outcome.submission
    channels.release(submission.channel, submission.hash)
    if released is not None and submission.channel:
        released()
    items: dict[uuid.UUID, list] = defaultdict(list)
    for item in submission.items.order_by(SubmissionItem.op_index):
        items[item.transaction_id].append(item)
    if outcome.state == SubmissionState.SUCCEEDED:
        balance_ids = claimable_balance_ids((outcome.record or {}).get("result_xdr")
                                            or submission.result_xdr)
        _succeeded(items, outcome, balance_ids, settings)
    elif outcome.state == SubmissionState.EXPIRED:
        back_to_ready(items)
    else:
        _failed(items, outcome)


def _completion_fields(outcome: Outcome) -> dict:
    record = outcome.record or {}
    return {"submission_status": SubmissionStatus.COMPLETED,
            "stellar_transaction_id": record.get("hash") or outcome.submission.hash,
            "paging_token": record.get("paging_token") or outcome.submission.paging_token,
            "completed_at": utcnow(), "status_message": None, "queue": None, "queued_at": None,
            "pending_signatures": False}


def _succeeded(items: dict[uuid.UUID, list], outcome: Outcome, balance_ids: dict[int, str],
               settings: Settings) -> None:
    """Every deposit of a succeeded submission. Those paid by a plain payment are completed
    in one guarded statement; ``after_deposit`` runs once for each deposit this call moved."""
    plain = [tid for tid, its in items.items() if {i.op_kind for i in its} == {OperationKind.PAYMENT}]
    moved = transition_many(plain, [TransactionStatus.PENDING_ANCHOR], TransactionStatus.COMPLETED,
                            **_completion_fields(outcome))
    rails = rails_for(settings.rails)
    for transaction in Transaction.select().where(Transaction.id.in_(moved)) if moved else []:
        _after_deposit(transaction, rails)
    for transaction_id, its in items.items():
        if transaction_id not in plain:
            _succeeded_one(transaction_id, its, outcome, balance_ids, settings)


def _succeeded_one(transaction_id: uuid.UUID, its: list, outcome: Outcome, balance_ids: dict[int, str],
               settings: Settings) -> None:
    kinds = {item.op_kind for item in its}
    if kinds == {OperationKind.CREATE_ACCOUNT}:
        transition(transaction_id, [TransactionStatus.PENDING_ANCHOR], TransactionStatus.PENDING_TRUST,
                   submission_status=SubmissionStatus.PENDING_TRUST,
                   status_message=None, queue=None, queued_at=None, envelope_xdr=None,
                   pending_signatures=False)
        return
    balance_id = next((balance_ids[i.op_index] for i in its if i.op_index in balance_ids), None)
    fields = _completion_fields(outcome)
    if balance_id:
        fields["claimable_balance_id"] = balance_id
    if transition(transaction_id, [TransactionStatus.PENDING_ANCHOR], TransactionStatus.COMPLETED, **fields):
        _after_deposit(Transaction.get_by_id(transaction_id), rails_for(settings.rails))


def _after_deposit(transaction: Transaction, rails: RailsIntegration) -> None:
    """Called by the one worker whose transition completed the deposit: once per deposit."""
    try:
        rails.after_deposit(transaction)
    except Exception:
        log.exception("after_deposit failed for deposit %s (the deposit stays completed)", transaction.id)


def _failed(items: dict[uuid.UUID, list], outcome: Outcome) -> None:
    codes = outcome.op_codes
    retry: list[uuid.UUID] = []
    for transaction_id, its in items.items():
        failing = [codes[i.op_index] for i in its
                   if i.op_index < len(codes) and codes[i.op_index] != "op_success"]
        if not failing and outcome.tx_code in (None, "tx_failed"):
            retry.append(transaction_id)  # its own operations were fine; a batch-mate failed
            continue
        _route_failure(transaction_id, outcome.tx_code, failing[0] if failing else None,
                       outcome.submission)
    back_to_ready(retry)


def _route_failure(transaction_id: uuid.UUID, tx_code: str | None, op_code: str | None,
                   submission: Submission) -> None:
    where = f"transaction {submission.hash}"
    if op_code in ("op_no_trust", "op_not_authorized", "op_no_destination", "op_already_exists"):
        forget(Transaction.get_by_id(transaction_id).to_address)  # look at the account afresh
    if op_code in ("op_no_trust", "op_not_authorized"):
        # The trustline went away or lost its authorization since the check (or since the
        # remembered answer); the check decides again on a fresh read (claimable balance or
        # pending_trust, as Polaris treats an unauthorized trustline).
        back_to_ready([transaction_id])
    elif op_code in ("op_no_destination", "op_already_exists"):
        # The account went away, or exists after all (the read that said it did not came
        # from a node that had not seen it yet): the destination check decides again.
        back_to_ready([transaction_id])
    elif op_code == "op_underfunded":
        _block(transaction_id, f"the distribution account cannot cover this deposit ({where}: "
                               "op_underfunded); fund it, then set submission_status to 'unblocked'")
    elif op_code is None and tx_code in BLOCKING_TX_CODES:
        _block(transaction_id, f"{BLOCKING_TX_CODES[tx_code]} ({where})")
    else:
        codes = json.dumps({"transaction": tx_code, "operation": op_code})
        reason = FAILED_OP_REASONS.get(op_code or "")
        transition(transaction_id, [TransactionStatus.PENDING_ANCHOR], TransactionStatus.ERROR,
                   submission_status=SubmissionStatus.FAILED,
                   status_message=f"Stellar refused the payment ({where}): {codes}"
                                  + (f"; {reason}" if reason else ""),
                   queue=None, queued_at=None)


def hold(submission: Submission, tx_code: str) -> None:
    """Block every deposit of a live submission core refused; the sweep settles it by hash,
    and once the anchor fixes the cause and sets ``unblocked`` it is sent again."""
    why = BLOCKING_TX_CODES.get(tx_code) or (
        f"Stellar refused the transaction ({tx_code}); fix the cause, then set submission_status "
        "to 'unblocked'")
    for transaction_id in {item.transaction_id for item in submission.items}:
        _block(transaction_id, f"{why} (transaction {submission.hash})")


def _block(transaction_id: uuid.UUID, message: str) -> None:
    """Stop without spinning: the anchor fixes the cause and sets it back to 'unblocked'."""
    changed = (Transaction.update(submission_status=SubmissionStatus.BLOCKED, status_message=message,
                                  queue=None,
                                  queued_at=None)
               .where((Transaction.id == transaction_id)
                      & (Transaction.status == TransactionStatus.PENDING_ANCHOR))
               .execute())
    if changed:
        log.error("deposit %s blocked: %s", transaction_id, message)


def conclude(outcome: Outcome, settings: Settings, *, bump: Callable[[Submission], Outcome | None],
             look_again: Callable[[Submission], object], released: Callable[[], object] | None = None
             ) -> DepositResult:
    """What a submit or settle outcome means for its deposits, for both ways of paying them.

    Core asked for a higher fee: ``bump`` sends a fee-bump (None if it could not be built).
    A refusal a person must clear holds the deposits; an unknown fate is looked at again
    later (``look_again``); anything settled is applied (``released`` hears when its channel
    is free).
    """
    if outcome.state == SubmissionState.PENDING and outcome.tx_code == "tx_insufficient_fee":
        outcome = bump(outcome.submission) or outcome
    if outcome.state == SubmissionState.PENDING and outcome.tx_code in HELD_TX_CODES:
        hold(outcome.submission, outcome.tx_code)
        return DepositResult.BLOCKED
    if outcome.state == SubmissionState.PENDING:
        look_again(outcome.submission)
        return DepositResult.PENDING
    apply_outcome(outcome, settings, released)
    return DepositResult(outcome.state)
