"""Deposit actors: thin wrappers over :mod:`anchor_dramatiq.deposits`."""

from __future__ import annotations

import dramatiq

from anchor_dramatiq import deposits, ids
from anchor_dramatiq.errors import PermanentError
from anchor_dramatiq.periodic import periodic
from anchor_dramatiq.queues import ActorName, Queue

SUBMIT_TIME_LIMIT_MS = 180_000


@dramatiq.actor(actor_name=ActorName.SUBMIT_DEPOSIT, queue_name=Queue.STELLAR,
                time_limit=SUBMIT_TIME_LIMIT_MS, throws=(PermanentError,))
def submit_deposit(transaction_id: str) -> None:
    """Pay one ready deposit (and ready batch-mates), or settle the submission already paying it."""
    deposits.submit_deposit(ids.transaction_id(transaction_id))


@dramatiq.actor(actor_name=ActorName.PAY_READY_DEPOSITS, queue_name=Queue.STELLAR,
                time_limit=SUBMIT_TIME_LIMIT_MS, throws=(PermanentError,))
def pay_ready_deposits() -> None:
    """Fill one free channel account with a batch of ready deposits (the pipeline)."""
    deposits.pay_ready()


@dramatiq.actor(actor_name=ActorName.SETTLE_DEPOSIT_BATCH, queue_name=Queue.STELLAR,
                time_limit=SUBMIT_TIME_LIMIT_MS, throws=(PermanentError,))
def settle_deposit_batch(submission_id: int) -> None:
    """Settle a pipelined envelope by hash, route its deposits, refill its channel."""
    deposits.settle_batch(int(submission_id))


@periodic("schedule_poll_pending_deposits")
def poll_pending_deposits() -> None:
    """Ask the rails which waiting deposits are funded; mark them ready and send them."""
    deposits.poll_pending_deposits()


@periodic("schedule_poll_pending_deposits")
def resume_deposits() -> None:
    """Re-send deposit work whose message was lost; settle stuck submissions by hash."""
    deposits.resume_deposits()


@periodic("schedule_check_trustlines")
def check_trustlines() -> None:
    """Re-queue pending_trust / pending_funding deposits whose destination is now ready."""
    deposits.check_trustlines()
