"""The root conftest: the environment every test imports the project under, and the shared
fixtures (tests/support/fixtures.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.secret import TEST_SECRET_KEY  # noqa: E402

# Defaults for everything imported by the tests (the in-process broker, a scratch SQLite).
os.environ.setdefault("ANCHOR_SECRET_KEY", TEST_SECRET_KEY)
os.environ.setdefault("ANCHOR_DATABASE_URL", "sqlite:///" + str(Path(os.environ.get(
    "TMPDIR", "/tmp")) / f"anchor-test-{os.getpid()}.sqlite3"))
os.environ.pop("ANCHOR_BROKER_URL", None)

pytest_plugins = ["support.fixtures", "support.scheduling"]
