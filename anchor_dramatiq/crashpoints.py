"""Crash points for reliability tests: ``ANCHOR_TEST_CRASH_AT=<point>:<marker file>``.

At the named point the worker SIGKILLs itself, once: it creates the marker file first, so
the restarted worker runs through. Unset (always, outside tests) it does nothing.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path


def crash_point(name: str) -> None:
    spec = os.environ.get("ANCHOR_TEST_CRASH_AT")
    if not spec:
        return
    point, _, marker = spec.partition(":")
    if point != name or not marker:
        return
    try:
        Path(marker).touch(exist_ok=False)
    except FileExistsError:
        return
    os.kill(os.getpid(), signal.SIGKILL)
