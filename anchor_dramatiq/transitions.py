"""Status changes of Polaris transactions: guarded, logged once, announced after commit.

Every flow changes ``polaris_transaction.status`` through :func:`transition`, a
compare-and-set (``UPDATE ... WHERE id = ? AND status IN (...)``): a duplicate or
concurrent actor finds zero rows and does nothing. Listeners (wallet callbacks, the rails
integration's ``on_status_change``, metrics) hear about a change only after it committed,
and are handed the row as read after the commit, so a batch of a hundred changes costs one
read rather than one per listener and row.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from anchor_dramatiq.db import database, is_postgres
from anchor_dramatiq.models import Transaction

log = logging.getLogger(__name__)

Listener = Callable[[Transaction, str, str], None]
_listeners: list[Listener] = []


def on_status_change(listener: Listener) -> Listener:
    """Register ``listener(transaction, old_status, new_status)`` (the row read after the
    commit); usable as a decorator."""
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


def transition(transaction_id: uuid.UUID, from_statuses: Iterable[str], to_status: str,
               **fields: Any) -> bool:
    """Move a transaction to ``to_status`` (setting ``fields``) if it is in ``from_statuses``.

    Returns False, and changes nothing, when the row is in any other status. Call it outside
    any open database transaction so listeners only ever hear about committed changes.
    """
    allowed = tuple(from_statuses)
    with database.atomic():
        old = (Transaction.select(Transaction.status)
               .where((Transaction.id == transaction_id) & (Transaction.status.in_(allowed)))
               .scalar())
        if old is None:
            return False
        changed = (Transaction.update(status=to_status, **fields)
                   .where((Transaction.id == transaction_id) & (Transaction.status == old))
                   .execute())
    if not changed:
        return False
    log.info("transaction %s: %s -> %s", transaction_id, old, to_status,
             extra={"transaction_id": transaction_id})
    if old != to_status:
        announce(transaction_id, old, to_status)
    return True


def transition_many(transaction_ids: Iterable[uuid.UUID], from_statuses: Iterable[str], to_status: str,
                    **fields: Any) -> list[uuid.UUID]:
    """:func:`transition` for many rows at once: one guarded UPDATE, each change logged and
    announced after commit. Returns the ids that moved (the others were in another status).

    The rows are read (and, on PostgreSQL, locked) before the update in the same database
    transaction, so every announced old status is the one that was replaced.
    """
    allowed = tuple(from_statuses)
    wanted = list(dict.fromkeys(transaction_ids))
    if not wanted:
        return []
    with database.atomic():
        query = (Transaction.select(Transaction.id, Transaction.status)
                 .where(Transaction.id.in_(wanted) & Transaction.status.in_(allowed)))
        if is_postgres():
            query = query.for_update()
        old = {row.id: row.status for row in query}
        if not old:
            return []
        moved = [row.id for row in (Transaction.update(status=to_status, **fields)
                                    .where(Transaction.id.in_(list(old)) & Transaction.status.in_(allowed))
                                    .returning(Transaction.id))]
    for transaction_id in moved:
        log.info("transaction %s: %s -> %s", transaction_id, old[transaction_id], to_status,
                 extra={"transaction_id": transaction_id})
    changed = [transaction_id for transaction_id in moved if old[transaction_id] != to_status]
    if changed and _listeners:
        for row in Transaction.select().where(Transaction.id.in_(changed)):
            announce(row, old[row.id], to_status)
    return moved


@dataclass(frozen=True)
class Move:
    """One guarded status change for :func:`transition_all`: as :func:`transition`'s arguments."""

    transaction_id: uuid.UUID
    from_statuses: tuple[str, ...]
    to_status: str
    fields: dict[str, Any] = field(default_factory=dict)


class _NotAll(Exception):
    """A row of a :func:`transition_all` was in another status: roll every move back."""


def transition_all(moves: Sequence[Move]) -> bool:
    """:func:`transition` for moves that belong together, each with its own statuses and fields:
    all of them in one database transaction, or none. Returns False, and changes nothing, when
    any row is in a status its move does not allow (the caller takes them one at a time then).

    The rows are read (and, on PostgreSQL, locked, in id order so two callers never deadlock)
    before each guarded UPDATE; every change is logged and announced after the commit.
    """
    if not moves:
        return True
    ordered = sorted(moves, key=lambda move: move.transaction_id)
    replaced: dict[uuid.UUID, str] = {}
    try:
        with database.atomic():
            query = (Transaction.select(Transaction.id, Transaction.status)
                     .where(Transaction.id.in_([move.transaction_id for move in ordered]))
                     .order_by(Transaction.id))
            if is_postgres():
                query = query.for_update()
            current = {row.id: row.status for row in query}
            for move in ordered:
                was = current.get(move.transaction_id)
                if move.transaction_id in replaced or was not in move.from_statuses or not (
                        Transaction.update(status=move.to_status, **move.fields)
                        .where((Transaction.id == move.transaction_id) & (Transaction.status == was))
                        .execute()):
                    raise _NotAll()
                replaced[move.transaction_id] = was
    except _NotAll:
        return False
    for move in moves:
        log.info("transaction %s: %s -> %s", move.transaction_id, replaced[move.transaction_id],
                 move.to_status, extra={"transaction_id": move.transaction_id})
    changed = {move.transaction_id: move for move in moves
               if replaced[move.transaction_id] != move.to_status}
    if changed and _listeners:
        rows = {row.id: row for row in Transaction.select().where(Transaction.id.in_(list(changed)))}
        for transaction_id, move in changed.items():  # in the order the moves were given
            if transaction_id in rows:
                announce(rows[transaction_id], replaced[transaction_id], move.to_status)
    return True


def announce(transaction: uuid.UUID | Transaction, old_status: str, new_status: str) -> None:
    """Tell every listener (reading the row once if given its id); a failing listener is
    logged and never undoes the change."""
    if not _listeners:
        return
    row = transaction if isinstance(transaction, Transaction) else \
        Transaction.get_or_none(Transaction.id == transaction)
    if row is None:
        return
    for listener in list(_listeners):
        try:
            listener(row, old_status, new_status)
        except Exception:
            log.exception("status listener %s failed for transaction %s",
                          getattr(listener, "__name__", listener), row.id)
