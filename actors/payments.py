"""Incoming payments: match one recorded payment; re-send the ones whose message was lost;
reconcile what the streams missed."""

from __future__ import annotations

import datetime as dt
import logging

import dramatiq

from actors.withdrawals import execute_outgoing
from anchor_dramatiq.config import get_settings
from anchor_dramatiq.errors import PermanentError
from anchor_dramatiq.payments import outbox, process
from anchor_dramatiq.payments.accounts import watched_accounts
from anchor_dramatiq.payments.reconcile import reconcile
from anchor_dramatiq.periodic import periodic
from anchor_dramatiq.queues import ActorName, Queue
from anchor_dramatiq.stellar.horizon import horizon_server

log = logging.getLogger(__name__)

#: A pending payment whose message was confirmed this long ago is presumed lost.
LOST_AFTER = dt.timedelta(minutes=2)


@dramatiq.actor(actor_name=ActorName.PROCESS_PAYMENT, queue_name=Queue.PAYMENTS, throws=(PermanentError,))
def process_payment(operation_id: str) -> None:
    """Match the payment to its withdrawal or send; on a match, enqueue the payout."""
    transaction_id = process.process_payment(operation_id)
    if transaction_id is not None:
        execute_outgoing.send(str(transaction_id))


@periodic("schedule_maintenance")
def publish_pending_payments() -> None:
    """Send ``process_payment`` for payments the streamer recorded while the broker was down,
    and for any whose message was lost."""
    broker = dramatiq.get_broker()
    while ids := outbox.due(stale_after=LOST_AFTER):
        sent = outbox.publish(broker, ids)
        log.info("re-sent process_payment for %d payments", sent)
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
