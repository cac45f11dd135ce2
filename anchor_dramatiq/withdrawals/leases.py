"""Claims (``anchor_lease``) on one transaction for one action: timed by the database, renewed
while the holder lives, fenced.

A claim is taken by inserting the row, or by taking over a row whose lease expired (its
holder died or lost touch). Expiry is written and compared on the database's clock, so
workers whose clocks disagree cannot both hold it. A holder renews its lease while it works
(:class:`Heartbeat`); every write under the claim checks the lease's fencing token, which
grows on every take, so a holder that lost its lease cannot save anything.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from types import TracebackType

from anchor_dramatiq import dbclock
from anchor_dramatiq.db import database, is_sqlite
from anchor_dramatiq.models import FenceCounter, Lease

log = logging.getLogger(__name__)


def new_owner() -> str:
    """A name for this claim: host, process and a random part (one per claim)."""
    return f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def write_lock():
    """A database transaction; on SQLite it holds the write lock from its first statement."""
    if is_sqlite():
        return database.atomic(lock_type="IMMEDIATE")
    return database.atomic()


def next_fence(name: str) -> int:
    """The next fencing token for ``name``; call inside a database transaction.

    The counter row stays locked until that transaction ends, so tokens are handed out in
    the order claims commit.
    """
    (FenceCounter.insert(name=name, value=1)
     .on_conflict(conflict_target=[FenceCounter.name], update={FenceCounter.value: FenceCounter.value + 1})
     .execute())
    return FenceCounter.get_by_id(name).value


def _key(transaction_id: uuid.UUID, action: str):
    return (Lease.transaction_id == transaction_id) & (Lease.action == action)


def claim(transaction_id: uuid.UUID, action: str, owner: str, seconds: int) -> Lease | None:
    """Take the lease; the Lease row (with its fence) on success, None while someone else holds it."""
    with write_lock():
        fence = next_fence("lease")
        taken = (Lease.update(owner=owner, expires_at=dbclock.shifted(seconds), attempts=Lease.attempts + 1,
                              updated_at=dbclock.now(), fence=fence)
                 .where(_key(transaction_id, action) & (Lease.expires_at < dbclock.now()))
                 .execute())
        if not taken:
            if Lease.select().where(_key(transaction_id, action)).exists():
                return None
            # Takers serialise on the fence counter's row, so nobody inserts between the check and here.
            Lease.insert(transaction_id=transaction_id, action=action, owner=owner,
                         expires_at=dbclock.shifted(seconds), attempts=1, updated_at=dbclock.now(),
                         fence=fence).execute()
    return Lease.get(_key(transaction_id, action))


def fenced(lease: Lease):
    """The WHERE clause that is true only while ``lease``'s claim is still the current one."""
    return _key(lease.transaction_id, lease.action) & (Lease.fence == lease.fence)


def renew(lease: Lease, seconds: int) -> bool:
    """Extend our lease by ``seconds`` from the database's now; False if it was taken from us."""
    return bool(Lease.update(expires_at=dbclock.shifted(seconds), updated_at=dbclock.now())
                .where(fenced(lease)).execute())


def release(transaction_id: uuid.UUID, action: str, owner: str, *, forget: bool) -> None:
    """End our lease: ``forget`` deletes it (the action is done), else it just expires now."""
    where = _key(transaction_id, action) & (Lease.owner == owner)
    if forget:
        Lease.delete().where(where).execute()
    else:
        Lease.update(expires_at=dbclock.shifted(-1), updated_at=dbclock.now()).where(where).execute()


def held(action: str) -> set[uuid.UUID]:
    """Transaction ids with an unexpired lease for ``action`` (by the database's clock)."""
    query = Lease.select(Lease.transaction_id).where((Lease.action == action)
                                                     & (Lease.expires_at >= dbclock.now()))
    return {row.transaction_id for row in query}


class Heartbeat:
    """Renews a lease every third of its length while a long call runs; stops when it ends.

    ``lost`` is set when a renewal found the lease taken (the holder must then not save).
    A failed renewal (database unreachable) is logged and tried again at the next beat.
    """

    def __init__(self, lease: Lease, seconds: int) -> None:
        self.lease = lease
        self.seconds = seconds
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-heartbeat-{lease.transaction_id}",
                                        daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(max(self.seconds / 3, 0.2)):
            try:
                with database.connection_context():
                    if not renew(self.lease, self.seconds):
                        self.lost.set()
                        log.error("transaction %s: lease for %s was taken while its holder worked",
                                  self.lease.transaction_id, self.lease.action)
                        return
            except Exception:
                log.exception("transaction %s: renewing the %s lease failed; trying again",
                              self.lease.transaction_id, self.lease.action)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
