"""The deployment test runs only under ``make compose-test`` (ANCHOR_COMPOSE_TEST=1): it builds
images and starts a Docker daemon, which ``make test`` must not do."""

from __future__ import annotations

import os
import signal

if os.environ.get("ANCHOR_COMPOSE_TEST") != "1":
    collect_ignore_glob = ["test_*.py"]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure() -> None:
    """SIGTERM (``.ci/run``'s time budget running out) tears the fixtures down like Ctrl-C:
    containers, images and the daemon are removed rather than left running."""
    if os.environ.get("ANCHOR_COMPOSE_TEST") == "1":
        signal.signal(signal.SIGTERM, _interrupt)
