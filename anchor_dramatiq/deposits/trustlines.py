"""``check_trustlines``: deposits waiting on the destination (``pending_trust``, and
``pending_user``/``pending_funding`` when account creation is off) go back to ready once
the account exists and trusts the asset. Each distinct account is read once per sweep.
"""

from __future__ import annotations

import logging

from anchor_dramatiq.config import Settings, get_settings
from anchor_dramatiq.db import utcnow
from anchor_dramatiq.deposits.destination import destination_key, load_destinations
from anchor_dramatiq.deposits.messages import send_submit
from anchor_dramatiq.errors import NoAnswer
from anchor_dramatiq.models import Asset, Transaction
from anchor_dramatiq.network.shared import shared_network
from anchor_dramatiq.queues import Queue
from anchor_dramatiq.transitions import transition
from anchor_dramatiq.vocabulary import DEPOSIT_KINDS, SubmissionStatus, TransactionStatus

log = logging.getLogger(__name__)

WAITING = ((Transaction.status == TransactionStatus.PENDING_TRUST)
           & (Transaction.submission_status == SubmissionStatus.PENDING_TRUST)) | (
    (Transaction.status == TransactionStatus.PENDING_USER)
    & (Transaction.submission_status == SubmissionStatus.PENDING_FUNDING))


def check_trustlines(settings: Settings | None = None) -> int:
    """One sweep; returns how many deposits were made ready again."""
    settings = settings or get_settings()
    waiting = list(Transaction.select(Transaction, Asset).join(Asset)
                   .where(Transaction.kind.in_(DEPOSIT_KINDS) & WAITING))
    if not waiting:
        return 0
    try:
        destinations = load_destinations(shared_network(settings), waiting)
    except NoAnswer as exc:
        log.warning("check_trustlines: the network did not answer (%s); next sweep retries", exc)
        return 0
    moved = 0
    for transaction in waiting:
        destination = destinations[destination_key(transaction)]
        claimable = transaction.claimable_balance_supported and settings.claimable_balances
        if not destination.exists or not (destination.trusts or claimable):
            if destination.exists and transaction.status == TransactionStatus.PENDING_USER:
                transition(transaction.id, [TransactionStatus.PENDING_USER], TransactionStatus.PENDING_TRUST,
                           submission_status=SubmissionStatus.PENDING_TRUST, status_message=None)
            continue
        if transition(transaction.id, [transaction.status], TransactionStatus.PENDING_ANCHOR,
                      submission_status=SubmissionStatus.READY,
                      envelope_xdr=None, stellar_transaction_id=None, status_message=None,
                      queue=Queue.STELLAR, queued_at=utcnow()):
            send_submit(transaction.id)
            moved += 1
    return moved
