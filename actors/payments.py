"""Incoming payments: match recorded payments (one, or a batch); re-send the ones whose message was lost;
reconcile what the streams missed; re-match late ones; pay refunds."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import dramatiq

from actors.withdrawals import execute_outgoing
from anchor_dramatiq.config import get_settings
from anchor_dramatiq.errors import PermanentError, RefundRefused
from anchor_dramatiq.models import Refund
from anchor_dramatiq.payments import outbox, process
from anchor_dramatiq.payments.accounts import watched_accounts
from anchor_dramatiq.payments.reconcile import reconcile_configured
from anchor_dramatiq.payments.refund_submit import pay_refund
from anchor_dramatiq.payments.refunds import request_refund
from anchor_dramatiq.payments.rematch import rematch_all
from anchor_dramatiq.periodic import periodic
from anchor_dramatiq.queues import ActorName, Queue
from anchor_dramatiq.vocabulary import RefundState, SubmissionState

log = logging.getLogger(__name__)

#: A pending payment whose message was confirmed this long ago is presumed lost.
LOST_AFTER = dt.timedelta(minutes=2)
#: How long after a refund's envelope is stored its fate is looked at again.
REFUND_LOOK_AGAIN_MS = 5_000
#: Who asked for a refund made by the automatic policy.
REFUND_POLICY = "ANCHOR_REFUND_REJECTED"


def _settle(operation_ids: list[str]) -> None:
    """Match the payments; enqueue the payout of each matched transaction (one message per
    payout: each has its own lease and at-most-once rails call); refund the rejected ones
    when ``ANCHOR_REFUND_REJECTED`` says so; then fail for what is left over (MatchRace is
    retried, the settled ones being no-ops then; ids not recorded fail for good)."""
    settled = process.process_payments(operation_ids)
    for transaction_id in settled.matched.values():
        execute_outgoing.send(str(transaction_id))
    if get_settings().refund_rejected:
        for operation_id in process.rejected(operation_ids):
            try:
                refund = request_refund(operation_id, None, REFUND_POLICY)
            except RefundRefused as exc:
                log.warning("payment %s is not refunded automatically: %s", operation_id, exc)
                continue
            refund_payment.send(str(refund.id))
    settled.raise_for_leftovers()


@dramatiq.actor(actor_name=ActorName.PROCESS_PAYMENT, queue_name=Queue.PAYMENTS, throws=(PermanentError,))
def process_payment(operation_id: str) -> None:
    """Match one payment: the batch path with one id (messages queued by older streamers,
    and the outbox sweep's)."""
    _settle([operation_id])


@dramatiq.actor(actor_name=ActorName.PROCESS_PAYMENTS, queue_name=Queue.PAYMENTS, throws=(PermanentError,))
def process_payments(operation_ids: list[str]) -> None:
    """Match a batch of recorded payments (the streamer's), a database round trip per step
    for the whole batch rather than per payment."""
    if not isinstance(operation_ids, list) or not all(isinstance(o, str) for o in operation_ids):
        raise PermanentError(f"process_payments takes a list of operation ids, not {operation_ids!r:.80}")
    _settle(operation_ids)


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
    recorded = reconcile_configured(settings, watched_accounts(settings.key()))
    if recorded:
        outbox.publish(dramatiq.get_broker(), recorded)
