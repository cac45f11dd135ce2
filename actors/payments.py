"""Incoming payments: match one recorded payment; re-send the ones whose message was lost;
reconcile what the streams missed; re-match late ones; pay refunds."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import dramatiq

from actors.withdrawals import execute_outgoing
from anchor_dramatiq.config import get_settings
from anchor_dramatiq.errors import PermanentError, RefundRefused
from anchor_dramatiq.models import Payment, Refund
from anchor_dramatiq.payments import outbox, process
from anchor_dramatiq.payments.accounts import watched_accounts
from anchor_dramatiq.payments.reconcile import reconcile
from anchor_dramatiq.payments.refund_submit import pay_refund
from anchor_dramatiq.payments.refunds import request_refund
from anchor_dramatiq.payments.rematch import rematch_all
from anchor_dramatiq.periodic import periodic
from anchor_dramatiq.queues import ActorName, Queue
from anchor_dramatiq.stellar.horizon import horizon_server
from anchor_dramatiq.vocabulary import PaymentOutcome, RefundState, SubmissionState

log = logging.getLogger(__name__)

#: A pending payment whose message was confirmed this long ago is presumed lost.
LOST_AFTER = dt.timedelta(minutes=2)
#: How long after a refund's envelope is stored its fate is looked at again.
REFUND_LOOK_AGAIN_MS = 5_000
#: Who asked for a refund made by the automatic policy.
REFUND_POLICY = "ANCHOR_REFUND_REJECTED"


@dramatiq.actor(actor_name=ActorName.PROCESS_PAYMENT, queue_name=Queue.PAYMENTS, throws=(PermanentError,))
def process_payment(operation_id: str) -> None:
    """Match the payment to its withdrawal or send; on a match, enqueue the payout; a rejected
    payment is refunded when ``ANCHOR_REFUND_REJECTED`` says so."""
    transaction_id = process.process_payment(operation_id)
    if transaction_id is not None:
        execute_outgoing.send(str(transaction_id))
        return
    payment = Payment.get_or_none(Payment.operation_id == operation_id)
    if get_settings().refund_rejected and payment is not None and payment.outcome == PaymentOutcome.REJECTED:
        try:
            refund = request_refund(operation_id, None, REFUND_POLICY)
        except RefundRefused as exc:
            log.warning("payment %s is not refunded automatically: %s", operation_id, exc)
            return
        refund_payment.send(str(refund.id))


@dramatiq.actor(actor_name=ActorName.REFUND_PAYMENT, queue_name=Queue.STELLAR)
def refund_payment(refund_id: str) -> None:
    """Pay a requested refund through the submission engine; look again while its fate is unknown."""
    state = pay_refund(uuid.UUID(refund_id), get_settings())
    if state == SubmissionState.PENDING:
        refund_payment.send_with_options(args=(refund_id,), delay=REFUND_LOOK_AGAIN_MS)


@periodic("schedule_maintenance")
def resume_refunds() -> None:
    """Nudge requested refunds whose message was lost (each run settles by hash first)."""
    for refund in Refund.select(Refund.id).where(Refund.state == RefundState.REQUESTED):
        refund_payment.send(str(refund.id))


@periodic("schedule_maintenance")
def rematch_payments() -> None:
    """Match unmatched and late payments whose transaction now waits (ANCHOR_REMATCH_WINDOW)."""
    for transaction_id in rematch_all(get_settings()):
        execute_outgoing.send(str(transaction_id))


@periodic("schedule_maintenance")
def publish_pending_payments() -> None:
    """Send ``process_payments`` (batches of ids) for payments the streamer recorded while the
    broker was down, and for any whose message was lost."""
    broker = dramatiq.get_broker()
    while ids := outbox.due(stale_after=LOST_AFTER):
        sent = outbox.publish(broker, ids)
        log.info("re-sent process_payments for %d payments", sent)
        if len(ids) < outbox.PAGE:
            return


@periodic("schedule_reconcile")
def reconcile_payments() -> None:
    """Record payments the streams missed since the oldest waiting withdrawal, and match them."""
    settings = get_settings()
    secret_key = settings.key()
    server = horizon_server(settings)
    try:
        recorded = reconcile(server, watched_accounts(secret_key))
    finally:
        server.close()
    if recorded:
        outbox.publish(dramatiq.get_broker(), recorded)
