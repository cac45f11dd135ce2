"""Entry point for ``periodiq scheduler``: exactly one of these runs.

Importing the actors declares every periodic tick with its cron from ``ANCHOR_SCHEDULE_*``.
"""

from actors import broker

__all__ = ["broker"]
