"""Bad-input corpus, configuration: a bad value stops a process at start with the variable named.

Secrets in a bad value are never echoed. The streamer process is started for real with a
bad value to show the one-line message and exit status 2 an operator sees.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from support.paths import REPO

from anchor_dramatiq.config import ConfigError, Settings

BAD = {
    "ANCHOR_DATABASE_URL": "mysql://anchor@db/anchor",
    "ANCHOR_BROKER_URL": "redis://localhost:6379",
    "ANCHOR_HORIZON_URL": "horizon.stellar.org",
    "ANCHOR_MAX_FEE_STROOPS": "10",
    "ANCHOR_BATCH_SIZE": "101",
    "ANCHOR_TX_TIMEOUT": "forever",
    "ANCHOR_CLAIM_TIMEOUT": "-5",
    "ANCHOR_ACCOUNT_STARTING_BALANCE": "1.123456789",
    "ANCHOR_ACCOUNT_CREATION": "maybe",
    "ANCHOR_SCHEDULE_RECONCILE": "7s",
    "ANCHOR_SCHEDULE_POLL_PENDING_DEPOSITS": "61 * * * *",
    "ANCHOR_STREAM_START_CURSOR": "yesterday",
    "ANCHOR_HORIZON_TIMEOUT": "nan",
    "ANCHOR_LOG_LEVEL": "LOUD",
    "ANCHOR_RAILS": "no_colon_here",
}
SECRETS = {
    "ANCHOR_SECRET_KEY": "short",
    "ANCHOR_SIGNING_SEED": "SBADSEEDBADSEEDBADSEED",
}


@pytest.mark.parametrize("variable", sorted(BAD))
def test_bad_value_names_the_variable(variable: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({variable: BAD[variable]})
    assert str(raised.value).startswith(f"{variable}: expected ")
    assert repr(BAD[variable]) in str(raised.value)


@pytest.mark.parametrize("variable", sorted(SECRETS))
def test_bad_secret_value_is_not_echoed(variable: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({variable: SECRETS[variable]})
    assert str(raised.value).startswith(f"{variable}: expected ")
    assert SECRETS[variable] not in str(raised.value) and "(hidden)" in str(raised.value)


def test_streamer_with_a_bad_value_exits_2_with_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANCHOR_")}
    env.update({"ANCHOR_SECRET_KEY": "a-good-secret-key-0123456789", "ANCHOR_BATCH_SIZE": "0",
                "ANCHOR_DATABASE_URL": "sqlite:////nonexistent/never-opened.sqlite3"})
    done = subprocess.run([sys.executable, str(REPO / "streamer.py")], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "anchor-dramatiq: configuration error: ANCHOR_BATCH_SIZE: expected a whole number from 1 to 100, "
        "got '0'"]
