"""Build (once) the virtualenv that runs django-polaris 2.6.0 next to anchor-dramatiq.

Polaris 2.6 fails to import with the stellar-sdk anchor-dramatiq uses (16.x), so it gets a
virtualenv of its own, pinned to what Polaris 2.6 was released against. The venv is built
in a cache directory (``ANCHOR_POLARIS_VENV``, else ``$XDG_CACHE_HOME/anchor-dramatiq/
polaris-venv``, else ``<repo>/.cache/polaris-venv``) and reused while its stamp matches the
pinned requirements, so the interop test and the benchmarks pay for it once per machine.

    python bench/polaris/polaris_venv.py         # builds if needed, prints the venv's python
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REQUIREMENTS = ("django-polaris==2.6.0", "stellar-sdk==12.2.0", "psycopg2-binary")
STAMP = "anchor-dramatiq-stamp.txt"
BUILD_TIMEOUT = 600


class VenvUnavailable(Exception):
    """The Polaris virtualenv could not be built; the message says why."""


def venv_dir() -> Path:
    if os.environ.get("ANCHOR_POLARIS_VENV"):
        return Path(os.environ["ANCHOR_POLARIS_VENV"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "anchor-dramatiq" / "polaris-venv"
    return REPO / ".cache" / "polaris-venv"


def _stamp_text() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor} " + " ".join(REQUIREMENTS) + "\n"


def _run(argv: list[str], what: str) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise VenvUnavailable(f"{what} failed: {exc}") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise VenvUnavailable(f"{what} failed (exit {done.returncode}): " + " | ".join(tail))


def ensure_venv(path: Path | None = None) -> Path:
    """The venv's python, building the venv first if it is missing or stale.

    Safe to call from several processes at once (a file lock serialises the builds).
    """
    path = path or venv_dir()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.parent / f".{path.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return _build(path)
    except OSError as exc:
        raise VenvUnavailable(f"cannot use {path}: {exc}") from None


def _build(path: Path) -> Path:
    python = path / "bin" / "python"
    stamp = path / STAMP
    if python.exists() and stamp.exists() and stamp.read_text() == _stamp_text():
        return python
    shutil.rmtree(path, ignore_errors=True)
    _run([sys.executable, "-m", "venv", str(path)], "python -m venv")
    _run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--retries", "2",
          "--timeout", "30", *REQUIREMENTS],
         "pip install " + " ".join(REQUIREMENTS))
    _run([str(python), "-c", "import polaris, stellar_sdk, psycopg2, django"], "importing Polaris")
    stamp.write_text(_stamp_text())
    return python


if __name__ == "__main__":
    try:
        print(ensure_venv())
    except VenvUnavailable as exc:
        print(f"Polaris virtualenv unavailable: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
