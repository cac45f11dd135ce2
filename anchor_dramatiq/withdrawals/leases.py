"""Time-bounded claims (``anchor_lease``) on one transaction for one action.

A claim is taken by inserting the row, or by taking over a row whose lease expired (its
holder died). While a lease is held no one else acts, so a redelivered message whose
first copy is still running does nothing. Each take counts an attempt.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid

from peewee import IntegrityError

from anchor_dramatiq.db import database, utcnow
from anchor_dramatiq.models import Lease


def new_owner() -> str:
    """A name for this claim: host, process and a random part (one per claim)."""
    return f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def claim(transaction_id: uuid.UUID, action: str, owner: str, seconds: int) -> Lease | None:
    """Take the lease; the Lease row on success, None while someone else holds it."""
    now = utcnow()
    expires = now + dt.timedelta(seconds=seconds)
    try:
        with database.atomic():
            Lease.create(transaction_id=transaction_id, action=action, owner=owner,
                         expires_at=expires, attempts=1, updated_at=now)
    except IntegrityError:
        taken = (Lease.update(owner=owner, expires_at=expires, attempts=Lease.attempts + 1,
                              updated_at=now)
                 .where((Lease.transaction_id == transaction_id) & (Lease.action == action)
                        & (Lease.expires_at < now))
                 .execute())
        if not taken:
            return None
    return Lease.get((Lease.transaction_id == transaction_id) & (Lease.action == action))


def release(transaction_id: uuid.UUID, action: str, owner: str, *, forget: bool) -> None:
    """End our lease: ``forget`` deletes it (the action is done), else it just expires now."""
    where = ((Lease.transaction_id == transaction_id) & (Lease.action == action)
             & (Lease.owner == owner))
    if forget:
        Lease.delete().where(where).execute()
    else:
        Lease.update(expires_at=utcnow(), updated_at=utcnow()).where(where).execute()


def held(action: str) -> set[uuid.UUID]:
    """Transaction ids with an unexpired lease for ``action``."""
    query = Lease.select(Lease.transaction_id).where((Lease.action == action)
                                                     & (Lease.expires_at >= utcnow()))
    return {row.transaction_id for row in query}
