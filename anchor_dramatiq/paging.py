"""Paging tokens in both forms the network writes, and how they compare.

Horizon's paging token is a TOID, ``ledger << 32 | tx << 12 | op`` (transactions counted from
1, an operation's TOID counting operations from 1), as decimal text. Stellar RPC's event id is
``%019d-%010d``: the TOID of the event's operation with operations counted from 0, and the
event's index in it. Both name a place in the same ledger order, so a stored cursor may be in
either form (a gap in RPC's retention is filled from Horizon, an anchor switches backend):
:func:`position` orders them together and :func:`as_event_cursor` / :func:`as_horizon_cursor`
turn one into the other without skipping anything (at worst one operation is read again,
which is a no-op by operation id). See docs/network.md, "Cursors".
"""

from __future__ import annotations

EVENT_INDEX_MAX = 2**32 - 1  # an event id's index is a uint32
TX_MAX = (1 << 20) - 1  # a TOID's transaction bits
OP_MAX = (1 << 12) - 1  # a TOID's operation bits
FIRST_LEDGER = 1  # the genesis ledger: it holds no transactions


def toid(ledger: int, tx_order: int = 0, op_order: int = 0) -> int:
    """Horizon's paging token of a ledger, transaction or operation."""
    return (ledger << 32) | (tx_order << 12) | op_order


def event_id(ledger: int, tx_order: int = 0, op_index: int = 0, index: int = 0) -> str:
    """An RPC event id (zero-padded, so ids sort as text)."""
    return f"{toid(ledger, tx_order, op_index):019d}-{index:010d}"


def end_of_ledger(ledger: int) -> str:
    """The event id after every event of ``ledger`` (what an RPC node answers as the cursor of
    a search that reached it)."""
    return f"{toid(ledger, TX_MAX, OP_MAX):019d}-{EVENT_INDEX_MAX:010d}"


def is_event_id(token: str) -> bool:
    return "-" in token


def _event_parts(token: str) -> tuple[int, int]:
    head, _, tail = token.partition("-")
    return int(head), int(tail)


def ledger_of(token: str) -> int:
    """The ledger a paging token or event id points into."""
    return int(token.partition("-")[0]) >> 32


def next_unread_ledger(token: str) -> int:
    """The first ledger with anything after ``token`` still to read: the token's own, or the
    next one when the token is at the end of its ledger (``end_of_ledger``, Horizon's
    ``cursor=now``)."""
    head = int(token.partition("-")[0])
    return (head >> 32) + 1 if head & 0xFFFFFFFF == 0xFFFFFFFF else head >> 32


def position(token: str) -> tuple[int, int]:
    """A key that orders both forms: everything at or before it has been read.

    An event id is (its TOID, its index). A Horizon token ``P`` covers every operation whose
    TOID is at most ``P``; an RPC event TOID counts operations from 0, so that is every event
    whose TOID is at most ``P - 1``, whatever its index.
    """
    if is_event_id(token):
        return _event_parts(token)
    return int(token) - 1, EVENT_INDEX_MAX


def as_event_cursor(token: str) -> str:
    """The RPC cursor that resumes right after ``token`` (no earlier than the first ledger,
    which an RPC node accepts and which holds no payment)."""
    if is_event_id(token):
        return token
    covered = int(token) - 1
    if covered < toid(FIRST_LEDGER):
        return event_id(FIRST_LEDGER)
    if int(token) == toid(ledger_of(token)):  # every operation before that ledger: start it
        return event_id(ledger_of(token))
    return f"{covered:019d}-{EVENT_INDEX_MAX:010d}"


def as_horizon_cursor(token: str) -> str:
    """The Horizon cursor that resumes at or before ``token``: an event id's own operation is
    read again (Horizon's paging tokens name whole operations)."""
    if is_event_id(token):
        return str(_event_parts(token)[0])
    return token
