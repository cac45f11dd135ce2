"""Entry point for ``periodiq scheduler``: exactly one of these runs.

Importing the actors declares every periodic tick with its cron from ``ANCHOR_SCHEDULE_*``;
metrics are served on ``ANCHOR_METRICS_PORT`` when it is set.
periodiq itself has no SIGTERM handler (``systemctl stop``/``docker stop`` would end it by
the signal, status 143): here SIGTERM exits with status 0. Nothing is half done by that: a
tick is either published or not, and a restarted scheduler's ticks are claimed per minute.
"""

import signal

from actors import broker, settings
from anchor_dramatiq.metrics import start_metrics_server


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


signal.signal(signal.SIGTERM, _exit_on_sigterm)
start_metrics_server(settings)

__all__ = ["broker"]
