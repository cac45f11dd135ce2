"""Configuration: defaults give the embedded setup; bad values name the variable."""

import os
import subprocess
import sys
from decimal import Decimal

import pytest

from anchor_dramatiq.config import VARIABLES, ConfigError, Settings


def test_defaults_are_the_embedded_setup():
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite:///anchor.sqlite3"
    assert settings.broker_url is None
    assert settings.network_passphrase == "Standalone Network ; February 2017"
    assert settings.rails == "anchor_dramatiq.integrations.sandbox:SandboxRails"
    assert settings.account_starting_balance == Decimal("2.01")
    assert settings.schedule_poll_pending_deposits.offsets == (0, 10, 20, 30, 40, 50)
    assert settings.schedule_check_trustlines.cron == "* * * * *"


@pytest.mark.parametrize("env,value,expected", [
    ("ANCHOR_DATABASE_URL", "mysql://x/y", "sqlite:// or postgresql://"),
    ("ANCHOR_BROKER_URL", "redis://localhost", "amqp://"),
    ("ANCHOR_HORIZON_URL", "horizon", "http://"),
    ("ANCHOR_BATCH_SIZE", "101", "whole number from 1 to 100"),
    ("ANCHOR_BATCH_SIZE", "ten", "whole number from 1 to 100"),
    ("ANCHOR_MAX_FEE_STROOPS", "-1", "whole number"),
    ("ANCHOR_ACCOUNT_CREATION", "maybe", "true or false"),
    ("ANCHOR_ACCOUNT_STARTING_BALANCE", "1.123456789", "at most 7 decimal places"),
    ("ANCHOR_ACCOUNT_STARTING_BALANCE", "NaN", "non-negative decimal"),
    ("ANCHOR_RAILS", "just_a_module", "module:ClassName"),
    ("ANCHOR_SCHEDULE_POLL_PENDING_DEPOSITS", "7s", "divides a minute"),
    ("ANCHOR_SCHEDULE_RECONCILE", "99 * * * *", "5-field cron"),
    ("ANCHOR_STREAM_START_CURSOR", "yesterday", "'now' or a Horizon paging token"),
    ("ANCHOR_LOG_FORMAT", "xml", "one of text, json"),
    ("ANCHOR_SECRET_KEY", "short", "at least 16 characters"),
])
def test_bad_value_names_the_variable(env, value, expected):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({env: value})
    message = str(caught.value)
    assert message.startswith(env + ": expected")
    assert expected in message


def test_bad_seed_is_not_echoed():
    bad = "SXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"ANCHOR_SIGNING_SEED": bad})
    assert "ANCHOR_SIGNING_SEED" in str(caught.value)
    assert bad not in str(caught.value)


def test_missing_required_variable():
    settings = Settings.from_env({})
    with pytest.raises(ConfigError, match="ANCHOR_SECRET_KEY: is required"):
        settings.require("secret_key")


def test_every_variable_is_documented_in_the_readme():
    readme = (os.path.dirname(__file__) + "/../../README.md")
    text = open(readme).read()
    missing = [v.env for v in VARIABLES if v.env not in text]
    assert missing == []


EXPECTED_LINE = ("anchor-dramatiq: configuration error: ANCHOR_BATCH_SIZE: expected a whole "
                 "number from 1 to 100, got '500'")


@pytest.mark.parametrize("argv", [
    [sys.executable, "-m", "anchor_dramatiq.cli", "status"],
    ["dramatiq", "actors", "-p", "1", "-t", "1"],
    ["periodiq", "scheduler"],
    [sys.executable, "streamer.py"],
])
def test_entry_points_print_one_line_and_exit_2(argv, tmp_path):
    env = {**os.environ, "ANCHOR_BATCH_SIZE": "500", "ANCHOR_DATABASE_URL": f"sqlite:///{tmp_path}/x"}
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60,
                            cwd=os.path.dirname(__file__) + "/../..")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "ANCHOR_BATCH_SIZE" in line]
    assert lines == [EXPECTED_LINE]


def test_every_dramatiq_worker_process_says_the_same_one_line(tmp_path):
    """With several worker processes each one imports the actors and says it: the same line."""
    env = {**os.environ, "ANCHOR_BATCH_SIZE": "500", "ANCHOR_DATABASE_URL": f"sqlite:///{tmp_path}/x"}
    result = subprocess.run(["dramatiq", "actors", "-p", "2"], env=env, capture_output=True,
                            text=True, timeout=60, cwd=os.path.dirname(__file__) + "/../..")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "ANCHOR_BATCH_SIZE" in line]
    assert 1 <= len(lines) <= 2 and set(lines) == {EXPECTED_LINE}
