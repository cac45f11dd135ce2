"""``poll_pending_deposits``: ask the rails which waiting deposits are funded, mark them ready.

Pages through deposits in ``pending_user_transfer_start``/``pending_external`` (by
``started_at``, a page at a time, so a large backlog never loads at once) and hands each
page to the rails integration. Each returned row is validated, then the page's valid rows
are marked ready in one guarded statement (a row that moved on meanwhile is left as it is);
a row the rails returned that is not a waiting deposit is logged and left. The nudge goes
out after the whole page is marked, so the pipeline fills full transactions.
"""

from __future__ import annotations

import logging

from anchor_dramatiq.config import Settings, get_settings
from anchor_dramatiq.deposits.ready import (
    FUNDABLE,
    DepositRejected,
    mark_ready_many,
    nudge_payment,
    reject,
    validate,
)
from anchor_dramatiq.errors import RailsError
from anchor_dramatiq.integrations import rails_for
from anchor_dramatiq.models import Asset, Transaction
from anchor_dramatiq.vocabulary import DEPOSIT_KINDS

log = logging.getLogger(__name__)

PAGE_SIZE = 500


def waiting_deposits(after: tuple | None, limit: int) -> list[Transaction]:
    query = (Transaction.select(Transaction, Asset).join(Asset)
             .where(Transaction.kind.in_(DEPOSIT_KINDS) & Transaction.status.in_(FUNDABLE)))
    if after is not None:
        started_at, last_id = after
        query = query.where((Transaction.started_at > started_at)
                            | ((Transaction.started_at == started_at) & (Transaction.id > last_id)))
    return list(query.order_by(Transaction.started_at, Transaction.id).limit(limit))


def poll_pending_deposits(settings: Settings | None = None, page_size: int = PAGE_SIZE) -> int:
    """One sweep; returns how many deposits were marked ready.

    Raises :class:`RailsError` when the integration's ``poll_pending_deposits`` raised (the
    sweep logs it; the next tick polls again).
    """
    settings = settings or get_settings()
    rails = rails_for(settings.rails)
    ready = 0
    after = None
    while True:
        page = waiting_deposits(after, page_size)
        if not page:
            return ready
        after = (page[-1].started_at, page[-1].id)
        by_id: dict[object, Transaction] = {t.id: t for t in page}
        try:
            funded = rails.poll_pending_deposits(page)
        except Exception as exc:
            raise RailsError(f"poll_pending_deposits raised {type(exc).__name__}: {exc}") from exc
        valid = []
        for returned in funded or []:
            original = by_id.get(getattr(returned, "id", None))
            if original is None or returned.kind not in DEPOSIT_KINDS:
                log.error("poll_pending_deposits returned %r, which is not a deposit it was given; "
                          "ignored", returned)
                continue
            try:
                valid.append((original, validate(original, returned.amount_in, returned.amount_fee,
                                                 returned.amount_out)))
            except DepositRejected as exc:
                reject(original, exc)
        marked = mark_ready_many(valid)  # one guarded statement for the page
        # Nudge once the page is marked: the pipeline then claims full batches.
        nudge_payment(marked)
        ready += len(marked)
        if len(page) < page_size:
            return ready
