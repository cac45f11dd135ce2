"""What a payment source gives the streamer: records in ledger order, each with its cursor.

The streamer knows nothing about Horizon: it asks a :class:`PaymentSource` for what follows
a cursor (catching up, then live) and turns each incoming record into ``anchor_payment``
fields with the source's own :meth:`~PaymentSource.fields` on its database thread, off the
event loop. :mod:`.horizon_source` is the Horizon one, :mod:`.rpc_source` the Stellar RPC
one (whose records are ``anchor_payment`` rows already).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, NamedTuple, Protocol

from anchor_dramatiq.payments.records import Record


class Item(NamedTuple):
    """One record read: ``record`` is None when it is not a payment to the account (it still
    moves the cursor); ``created_at`` is its ledger's close time, as the source wrote it."""

    record: Record | None
    paging_token: str
    created_at: str | None


class PaymentSource(Protocol):
    """Reads one account's payments after a cursor, forever: pages while behind, then live."""

    latest_ledger: int | None  # the newest ledger the source has seen the network close

    async def present_cursor(self) -> str:
        """A cursor just past the newest closed ledger (what ``now`` means)."""
        ...

    def items(self, cursor: str) -> AsyncIterator[Item]:
        """Every record after ``cursor`` in order; raises when the connection fails or goes silent."""
        ...

    def fields(self, record: Record) -> dict[str, Any]:
        """The ``anchor_payment`` columns for an incoming record (runs on the database thread)."""
        ...

    async def close(self) -> None:
        ...
