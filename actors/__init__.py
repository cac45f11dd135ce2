"""The Dramatiq actors. ``dramatiq actors`` imports this package.

Importing it validates the configuration, opens the database and installs the broker
before any actor module is imported (actors bind to the broker when declared).
"""

from anchor_dramatiq.broker import setup
from anchor_dramatiq.config import settings_or_exit
from anchor_dramatiq.logs import setup_logging

settings = settings_or_exit()
setup_logging(settings)  # inside dramatiq's worker processes and periodiq too
broker = setup(settings)

from actors import callbacks, deposits, maintenance, payments, withdrawals  # noqa: E402
from anchor_dramatiq.integrations import notify_rails  # noqa: E402
from anchor_dramatiq.transitions import on_status_change  # noqa: E402

on_status_change(notify_rails)  # the rails integration hears every committed status change

__all__ = ["broker", "callbacks", "deposits", "maintenance", "payments", "withdrawals"]
