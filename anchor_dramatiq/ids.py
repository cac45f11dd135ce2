"""Ids arriving in messages: parsed once, and a malformed one fails for good at once."""

from __future__ import annotations

import uuid

from anchor_dramatiq.errors import PermanentError


def transaction_id(value: object) -> uuid.UUID:
    """A Polaris transaction id (UUID, with or without dashes), or :class:`PermanentError`.

    Retrying a message whose id can never parse only delays its trip to the dead letters.
    """
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise PermanentError(f"not a transaction id: {str(value)[:80]!r}") from None
