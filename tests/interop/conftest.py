"""Fixtures for running django-polaris 2.6.0 next to anchor-dramatiq: its venv (built once per
session, cached on disk across sessions), and the Polaris project in ``bench/polaris``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

POLARIS_DIR = Path(__file__).resolve().parents[2] / "bench" / "polaris"
sys.path.insert(0, str(POLARIS_DIR))

from harness import Polaris  # noqa: E402
from polaris_venv import VenvUnavailable, ensure_venv  # noqa: E402


@pytest.fixture(scope="session")
def polaris_python() -> Path:
    """The Polaris venv's python; the test is skipped, saying why, only if it cannot be built."""
    try:
        return ensure_venv()
    except VenvUnavailable as exc:
        reason = f"django-polaris 2.6.0 virtualenv cannot be built: {exc}"
        print(reason, file=sys.stderr)
        pytest.skip(reason)


@pytest.fixture
def polaris_factory(polaris_python: Path) -> Iterator:
    """``make(env)`` → a :class:`Polaris` driving the Polaris project with that environment."""
    def make(env: dict[str, str]) -> Polaris:
        return Polaris(polaris_python, env)

    yield make
