"""The deployment test runs only under ``make compose-test`` (ANCHOR_COMPOSE_TEST=1): it builds
images and starts a Docker daemon, which ``make test`` must not do."""

from __future__ import annotations

import os

if os.environ.get("ANCHOR_COMPOSE_TEST") != "1":
    collect_ignore_glob = ["test_*.py"]
