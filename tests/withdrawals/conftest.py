"""Fixtures for the withdrawal tests: simnet as Horizon, and deployed processes paying out
through the counting rails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.rails import counting_rails_env

from simnet import Simnet


@pytest.fixture
def sim() -> Iterator[Simnet]:
    with Simnet(ledger_interval=0.1, stream_timeout=5.0) as net:
        yield net


@pytest.fixture
def horizon_url(sim: Simnet) -> str:
    return sim.url


@pytest.fixture
def process_env(process_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The shared process environment, paying out through the counting rails."""
    return {**process_env, **counting_rails_env(tmp_path),
            "ANCHOR_STREAM_SILENCE_TIMEOUT": "5", "ANCHOR_CLAIM_TIMEOUT": "30"}
