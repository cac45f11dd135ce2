"""Funded deposits: validate what the rails (or the anchor's own code) reported, mark ready.

A deposit becomes ready (``pending_anchor`` / ``submission_status=ready``) only with a
positive ``amount_in``, a non-negative fee smaller than it and an ``amount_out`` to send,
all with at most 7 decimal places, and a valid Stellar destination. Anything else is
recorded on the row as ``error`` with a message saying what was wrong.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from peewee import Case

from anchor_dramatiq.db import STROOP, utcnow
from anchor_dramatiq.deposits.destination import account_of
from anchor_dramatiq.deposits.messages import send_pay_ready, send_submit
from anchor_dramatiq.errors import DepositRejected
from anchor_dramatiq.models import Asset, Channel, Transaction
from anchor_dramatiq.queues import Queue
from anchor_dramatiq.transitions import transition, transition_many
from anchor_dramatiq.vocabulary import DEPOSIT_KINDS, SubmissionStatus, TransactionStatus

log = logging.getLogger(__name__)

FUNDABLE = (TransactionStatus.PENDING_USER_TRANSFER_START, TransactionStatus.PENDING_EXTERNAL)


@dataclass(frozen=True)
class Amounts:
    amount_in: Decimal
    amount_fee: Decimal
    amount_out: Decimal


def _decimal(name: str, value: object) -> Decimal:
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise DepositRejected(f"{name} {value!r} is not a decimal amount") from None
    if not amount.is_finite():
        raise DepositRejected(f"{name} {value!r} is not a finite amount")
    if amount != amount.quantize(STROOP, rounding=ROUND_DOWN):
        raise DepositRejected(f"{name} {amount} has more than 7 decimal places")
    return amount


def asset_fee(asset: Asset, amount_in: Decimal) -> Decimal:
    """The asset's deposit fee (fixed + percent), as Polaris's default fee function."""
    fee = (asset.deposit_fee_fixed or Decimal(0)) + \
        (asset.deposit_fee_percent or Decimal(0)) / Decimal(100) * amount_in
    return fee.quantize(Decimal(10) ** -asset.significant_decimals)


def validate(transaction: Transaction, amount_in: object, amount_fee: object | None,
             amount_out: object | None) -> Amounts:
    """The amounts to record, or :class:`DepositRejected` saying what is wrong."""
    if amount_in is None:
        raise DepositRejected("the rails returned the deposit without amount_in")
    value_in = _decimal("amount_in", amount_in)
    if value_in <= 0:
        raise DepositRejected(f"amount_in {value_in} is not positive")
    if transaction.quote_id is not None and (amount_fee is None or amount_out is None):
        raise DepositRejected("a deposit with a quote needs amount_fee and amount_out from the rails")
    fee = asset_fee(transaction.asset, value_in) if amount_fee is None else _decimal("amount_fee", amount_fee)
    if fee < 0:
        raise DepositRejected(f"amount_fee {fee} is negative")
    if amount_out is None:
        places = Decimal(10) ** -transaction.asset.significant_decimals
        out = (value_in - fee).quantize(places, rounding=ROUND_DOWN)
    else:
        out = _decimal("amount_out", amount_out)
    if out <= 0:
        raise DepositRejected(f"nothing to send: amount_in {value_in}, amount_fee {fee}, amount_out {out}")
    if transaction.quote_id is None and out > value_in - fee:
        raise DepositRejected(f"amount_out {out} exceeds amount_in {value_in} minus amount_fee {fee}")
    destination_error = check_destination_address(transaction.to_address)
    if destination_error:
        raise DepositRejected(destination_error)
    if not transaction.asset.distribution_seed:
        raise DepositRejected(f"asset {transaction.asset.code} has no distribution seed to pay from")
    return Amounts(value_in, fee, out)


def check_destination_address(address: str | None) -> str | None:
    if not address:
        return "the deposit has no destination account (to_address)"
    try:
        account_of(address)
    except ValueError:
        return f"destination {address!r} is not a Stellar account (G...) or muxed account (M...)"
    return None


def mark_ready(transaction: Transaction, amount_in: object, amount_fee: object | None = None,
               amount_out: object | None = None, *, nudge: bool = True, **extra: object) -> bool:
    """Validate and move a funded deposit to ready, then nudge ``submit_deposit``.

    ``nudge=False`` leaves the message to the caller: the poll marks a whole page ready
    first, so the first ``submit_deposit`` finds a full batch instead of one deposit.

    True if this call marked it ready; False if it was not waiting for funds (already
    ready, paid, or another caller got there first). Raises :class:`DepositRejected` after
    recording an ``error`` status when the amounts cannot be paid.
    """
    try:
        amounts = validate(transaction, amount_in, amount_fee, amount_out)
    except DepositRejected as exc:
        reject(transaction, exc, **extra)
        raise
    moved = transition(transaction.id, FUNDABLE, TransactionStatus.PENDING_ANCHOR,
                       submission_status=SubmissionStatus.READY,
                       amount_in=amounts.amount_in, amount_fee=amounts.amount_fee,
                       amount_out=amounts.amount_out, status_message=None, queue=Queue.STELLAR,
                       queued_at=utcnow(), **extra)
    if moved and nudge:
        nudge_payment([transaction.id])
    return moved


def nudge_payment(transaction_ids: list[uuid.UUID]) -> None:
    """Newly ready deposits: wake the pipeline when there are channel accounts (it claims
    what is ready, fairly), else send ``submit_deposit`` for each."""
    if not transaction_ids:
        return
    if Channel.select().exists():
        send_pay_ready()
        return
    for transaction_id in transaction_ids:
        send_submit(transaction_id)


def mark_ready_many(funded: list[tuple[Transaction, Amounts]]) -> list[uuid.UUID]:
    """Move validated deposits to ready in one guarded statement (each row its own amounts);
    returns the ids that moved. Rows no longer waiting for funds are left as they are."""
    if not funded:
        return []

    def per_row(name: str) -> Case:
        return Case(Transaction.id, [(Transaction.id.db_value(t.id), getattr(a, name)) for t, a in funded])

    return transition_many([t.id for t, _ in funded], FUNDABLE, TransactionStatus.PENDING_ANCHOR,
                           submission_status=SubmissionStatus.READY, amount_in=per_row("amount_in"),
                           amount_fee=per_row("amount_fee"), amount_out=per_row("amount_out"),
                           status_message=None, queue=Queue.STELLAR, queued_at=utcnow())


def reject(transaction: Transaction, exc: DepositRejected, **extra: object) -> None:
    """Record why a funded deposit cannot be paid (``error`` with the reason)."""
    transition(transaction.id, FUNDABLE, TransactionStatus.ERROR,
               submission_status=SubmissionStatus.FAILED, status_message=str(exc), **extra)
    log.error("deposit %s rejected: %s", transaction.id, exc)


def deposit_funded(transaction_id: uuid.UUID | str, amount_in: object, amount_fee: object | None = None,
                   amount_out: object | None = None, external_transaction_id: str | None = None
                   ) -> bool:
    """For the anchor's own code: the bank reports a deposit's funds arrived; pay it now.

    Validates the amounts (``amount_fee`` defaults to the asset's deposit fee, ``amount_out``
    to ``amount_in - amount_fee``), marks the deposit ready and enqueues ``submit_deposit``
    without waiting for the next poll. Idempotent: a second call for the same deposit
    returns False and changes nothing. Needs the broker set up
    (:func:`anchor_dramatiq.boot.boot`).
    """
    transaction = Transaction.get_or_none(Transaction.id == uuid.UUID(str(transaction_id)))
    if transaction is None:
        raise LookupError(f"no transaction {transaction_id}")
    if transaction.kind not in DEPOSIT_KINDS:
        raise DepositRejected(f"transaction {transaction_id} is a {transaction.kind}, not a deposit")
    extra: dict[str, Any] = {}
    if external_transaction_id:
        extra["external_transaction_id"] = external_transaction_id
    return mark_ready(transaction, amount_in, amount_fee, amount_out, **extra)
