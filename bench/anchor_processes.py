"""The anchor's processes for the incoming-payment benchmarks: the streamer and ``dramatiq
actors`` workers as production runs them, with what the benchmarks read from /proc (the
streamer's peak RSS, CPU seconds per role) and optional py-spy profiles."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def anchor_env(db_url: str, broker_url: str, horizon_url: str, secret_key: str, logs: Path,
               **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANCHOR_")}
    env.update({"ANCHOR_DATABASE_URL": db_url, "ANCHOR_BROKER_URL": broker_url,
                "ANCHOR_SECRET_KEY": secret_key, "ANCHOR_HORIZON_URL": horizon_url,
                "ANCHOR_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
                "dramatiq_prom_db": str(logs / "prom"), **extra})
    return env


class AnchorProcesses:
    """Started processes by role; stopped (SIGTERM, then SIGKILL of the group) on ``stop``."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, role: str, argv: list[str]) -> subprocess.Popen:
        process = subprocess.Popen(argv, env=self.env, cwd=REPO, stdout=open(self.logs / f"{role}.log", "wb"),
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[role] = process
        return process

    def workers(self, processes: int, threads: int) -> subprocess.Popen:
        dramatiq_bin = str(Path(sys.executable).parent / "dramatiq")
        return self.start("workers", [dramatiq_bin, "actors", "-p", str(processes), "-t", str(threads)])

    def streamer(self) -> subprocess.Popen:
        return self.start("streamer", [sys.executable, "streamer.py"])

    def check(self) -> None:
        for role, process in self.procs.items():
            if process.poll() is not None:
                raise RuntimeError(f"{role} exited {process.returncode}; see {self.logs}")

    def stop(self) -> None:
        for process in self.procs.values():
            if process.poll() is None:
                process.terminate()
        for process in self.procs.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return raw[raw.rindex(")") + 2:].split()


def cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and its descendants (live ones, and the exited ones it reaped)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        fields = _stat(current)
        if fields is None:
            continue
        # utime stime cutime cstime (fields 14-17, here indices 11-14)
        total += sum(int(value) for value in fields[11:15])
        todo += children.get(current, [])
    return total / TICKS


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except FileNotFoundError:
        pass
    return 0


class RssPeak:
    """The largest RSS of a process, sampled every 0.2 s from /proc in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            self._stop.wait(0.2)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def postgres_pid(server) -> int:
    """The postmaster of a ``support.services.PostgresServer``."""
    return int((server.data / "postmaster.pid").read_text().split()[0])


def profile(pid: int, out: Path, seconds: int) -> subprocess.Popen:
    """py-spy sampling ``pid`` and its subprocesses for ``seconds``, collapsed stacks into ``out``."""
    return subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--subprocesses", "--nonblocking",
                             "--rate", "50", "--duration", str(seconds), "--format", "raw", "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
