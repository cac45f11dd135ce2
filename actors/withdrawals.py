"""Payouts: execute a paid withdrawal/send at most once, sweep for missed and held ones, poll."""

from __future__ import annotations

import logging

import dramatiq

from anchor_dramatiq import ids
from anchor_dramatiq.config import get_settings
from anchor_dramatiq.errors import PermanentError
from anchor_dramatiq.integrations import RailsIntegration, rails_for
from anchor_dramatiq.periodic import periodic
from anchor_dramatiq.queues import ActorName, Queue
from anchor_dramatiq.vocabulary import PayoutStatus
from anchor_dramatiq.withdrawals import execute as outgoing
from anchor_dramatiq.withdrawals.poll import poll_outgoing
from anchor_dramatiq.withdrawals.resolve import settle_held

log = logging.getLogger(__name__)


def rails() -> RailsIntegration:
    return rails_for(get_settings().rails)


@dramatiq.actor(actor_name=ActorName.EXECUTE_OUTGOING, queue_name=Queue.WITHDRAWALS, throws=(PermanentError,))
def execute_outgoing(transaction_id: str) -> None:
    """Claim the paid transaction and call the rails integration's payout (at most once)."""
    outgoing.execute_outgoing(ids.transaction_id(transaction_id), rails(), get_settings())


@periodic("schedule_execute_outgoing")
def execute_outgoing_transactions() -> None:
    """Re-send ``execute_outgoing`` for ready payouts with no live claim (lost message, dead worker),
    each at most once a minute; then ask the rails' ``payout_status`` about held payouts."""
    for transaction_id in outgoing.due():
        execute_outgoing.send(str(transaction_id))
        outgoing.mark_nudged([transaction_id])
    settled = settle_held(rails())
    if settled[PayoutStatus.PAID] or settled[PayoutStatus.NOT_PAID]:
        log.info("held payouts settled by payout_status: %s", settled)


@periodic("schedule_poll_outgoing")
def poll_outgoing_transactions() -> None:
    """Complete ``pending_external`` payouts the rails report done."""
    completed = poll_outgoing(rails())
    if completed:
        log.info("%d payouts completed", completed)

