"""``poll_outgoing_transactions``: ask the rails which ``pending_external`` payouts completed."""

from __future__ import annotations

import logging

from anchor_dramatiq.db import utcnow
from anchor_dramatiq.integrations import RailsIntegration
from anchor_dramatiq.models import Asset, Transaction
from anchor_dramatiq.transitions import transition
from anchor_dramatiq.vocabulary import WITHDRAWAL_KINDS, TransactionKind, TransactionStatus

log = logging.getLogger(__name__)

PAGE = 100
OUTGOING_KINDS = (*WITHDRAWAL_KINDS, TransactionKind.SEND)


def poll_outgoing(rails: RailsIntegration, page_size: int = PAGE) -> int:
    """Complete what the rails say is done; return how many completed.

    Pages by id so a large backlog never loads at once. A page the integration answers
    with something other than a list of rows from that page is logged and skipped.
    """
    completed = 0
    last = None
    while True:
        query = (Transaction.select(Transaction, Asset).join(Asset)
                 .where(Transaction.kind.in_(OUTGOING_KINDS)
                        & (Transaction.status == TransactionStatus.PENDING_EXTERNAL)))
        if last is not None:
            query = query.where(Transaction.id > last)
        page = list(query.order_by(Transaction.id).limit(page_size))
        if not page:
            return completed
        last = page[-1].id
        ids = {t.id for t in page}
        done = rails.poll_outgoing_transactions(page)
        if not isinstance(done, list) or any(
                not isinstance(t, Transaction) or t.id not in ids for t in done):
            log.error("poll_outgoing_transactions returned %r, not a list of the rows it was given; "
                      "page skipped", type(done).__name__)
        else:
            for transaction in done:
                if transition(transaction.id, [TransactionStatus.PENDING_EXTERNAL],
                              TransactionStatus.COMPLETED, completed_at=utcnow()):
                    completed += 1
        if len(page) < page_size:
            return completed
