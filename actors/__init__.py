"""The Dramatiq actors. ``dramatiq actors`` and ``periodiq actors`` import this package.

It is the workers' and the scheduler's door: unless the process already booted (``run``,
``demo``), it validates the configuration and calls :func:`~anchor_dramatiq.boot.boot`
(logging, database, broker, listeners) before any actor module is imported, since actors
bind to the broker when declared.
"""

from anchor_dramatiq.boot import boot, booted
from anchor_dramatiq.config import settings_or_exit

settings = settings_or_exit()
broker = booted() or boot(settings)

from actors import callbacks, deposits, maintenance, payments, withdrawals  # noqa: E402

__all__ = ["broker", "callbacks", "deposits", "maintenance", "payments", "withdrawals"]
