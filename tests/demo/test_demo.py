"""`anchor-dramatiq demo` end to end, as a newcomer runs it: a real process, exit code 0.

The process runs in a scratch folder with the checkout first on its path, so it is this
checkout's code that runs, not an older installed copy."""

import os
import subprocess
import sys

import pytest
from support.paths import REPO

CHECKOUT = {**os.environ, "PYTHONPATH": str(REPO)}


@pytest.mark.long(seconds=30)
@pytest.mark.parametrize("faults", [False, True], ids=["calm", "faults"])
def test_demo_completes_everything_and_agrees_with_the_ledger(tmp_path, faults):
    argv = [sys.executable, "-m", "anchor_dramatiq.cli", "demo", "--deposits", "6",
            "--withdrawals", "4", "--ledger-interval", "0.2", "--channels", "2",
            "--keep", str(tmp_path / "demo.sqlite3"), "--timeout", "150"]
    if faults:
        argv.append("--faults")
    result = subprocess.run(argv, capture_output=True, text=True, timeout=240, cwd=tmp_path,
                            env=CHECKOUT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "deposit      completed                         6" in out
    assert "withdrawal   completed                         4" in out
    assert "rejected" in out and "payment has no memo" in out
    assert "the ledger agrees with the database" in out
    assert "internal" in out and "treasury movement" in out  # the issuer's top-up, never refunded

    status = subprocess.run([sys.executable, "-m", "anchor_dramatiq.cli", "status", "--json",
                             "--no-horizon"], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                            env={**CHECKOUT, "ANCHOR_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}"})
    assert status.returncode == 0, status.stderr
    assert '"completed": 6' in status.stdout and '"completed": 4' in status.stdout


def test_demo_over_stellar_rpc_reads_every_payment_from_rpc_events(tmp_path):
    """`--network-api rpc`: the anchor's jobs submit, settle and ingest over simnet's RPC; every
    payment row was read from getEvents (an event-id cursor; the final check says otherwise)."""
    result = subprocess.run([sys.executable, "-m", "anchor_dramatiq.cli", "demo", "--deposits", "3",
                             "--withdrawals", "2", "--ledger-interval", "0.2", "--channels", "2",
                             "--network-api", "rpc", "--timeout", "150"],
                            capture_output=True, text=True, timeout=240, cwd=tmp_path, env=CHECKOUT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "(the jobs use rpc)" in out
    assert "deposit      completed                         3" in out
    assert "withdrawal   completed                         2" in out
    assert "payments recorded                 5  read from Stellar RPC getEvents" in out
    assert "the ledger agrees with the database" in out


def test_demo_refunds_the_look_alike_payment_once(tmp_path):
    """`--refund-rejected`: the look-alike payment goes back, and the final check finds it on the ledger."""
    result = subprocess.run([sys.executable, "-m", "anchor_dramatiq.cli", "demo", "--deposits", "3",
                             "--withdrawals", "2", "--ledger-interval", "0.2", "--channels", "2",
                             "--refund-rejected", "--timeout", "150"],
                            capture_output=True, text=True, timeout=240, cwd=tmp_path,
                            env=CHECKOUT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "refund paid" in result.stdout
    assert "rejected" in result.stdout and "paid" in result.stdout.split("rejected", 1)[1]
    assert "the ledger agrees with the database" in result.stdout


def test_demo_exits_non_zero_when_it_cannot_finish(tmp_path):
    """A timeout too short to finish is a failure with the discrepancy printed, not a success.

    1 s cannot be enough: a withdrawal needs its wallet's payment to close in a ledger (1 s)
    and the sandbox bank completes a payout 2 s after it was sent.
    """
    result = subprocess.run([sys.executable, "-m", "anchor_dramatiq.cli", "demo", "--deposits", "3",
                             "--withdrawals", "2", "--ledger-interval", "1", "--timeout", "1"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path, env=CHECKOUT)
    assert result.returncode == 1
    assert "not every transaction was terminal after 1s" in result.stderr
