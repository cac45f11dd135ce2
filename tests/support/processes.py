"""Real project processes under test: started with a log file, stopped by signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from support.paths import REPO, TESTS
from support.secret import TEST_SECRET_KEY


class Process:
    """A project process (``dramatiq actors``, ``periodiq scheduler``...) with its log in a file."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.argv = argv
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.popen = subprocess.Popen(argv, env=env, cwd=REPO, stdout=self._log,
                                      stderr=subprocess.STDOUT, start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, needle: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log():
                return
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.argv} exited {self.popen.returncode}:\n{self.log()[-4000:]}")
            time.sleep(0.1)
        raise AssertionError(f"{needle!r} not logged by {self.argv} in {timeout}s:\n{self.log()[-4000:]}")

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM to the main process only (what systemd's KillMode=mixed and docker stop do)."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        """SIGKILL the whole process group (children a dying master may have left too)."""
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(timeout=10)
        self._log.close()


def bin_path(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def workers_argv(processes: int = 1, threads: int = 2) -> list[str]:
    return [bin_path("dramatiq"), "actors", "-p", str(processes), "-t", str(threads),
            "--worker-shutdown-timeout", "20000"]


def scheduler_argv() -> list[str]:
    return [bin_path("periodiq"), "scheduler"]


def streamer_argv() -> list[str]:
    return [sys.executable, str(REPO / "streamer.py")]


def process_environment(database_url: str, broker_url: str, horizon_url: str, workdir: Path,
                        **extra: str) -> dict[str, str]:
    """What a deployed process gets: RabbitMQ, the database, Horizon, the test key, no ANCHOR_*
    inherited from the test run; tests/ on its path so ``ANCHOR_RAILS`` can name test rails."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANCHOR_")}
    env.update({
        "ANCHOR_DATABASE_URL": database_url,
        "ANCHOR_BROKER_URL": broker_url,
        "ANCHOR_SECRET_KEY": TEST_SECRET_KEY,
        "ANCHOR_HORIZON_URL": horizon_url,
        "PYTHONPATH": os.pathsep.join([str(TESTS), str(REPO)]),
        "PYTHONUNBUFFERED": "1",
        "TZ": "UTC",
        "dramatiq_prom_db": str(workdir / "prometheus"),
        **extra,
    })
    return env
