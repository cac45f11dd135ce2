"""Driving the Polaris side from anchor-dramatiq's python: its venv and its manage.py.

Everything Polaris does runs in a subprocess with the Polaris venv's python and the same
``ANCHOR_*`` environment anchor-dramatiq's processes get (database, Horizon, passphrase,
``ANCHOR_SECRET_KEY`` as Django's ``SECRET_KEY``).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MANAGE = HERE / "manage.py"


class PolarisError(Exception):
    """A Polaris command failed; the message carries its output."""


class Polaris:
    """The Polaris project at ``bench/polaris`` run with ``python`` (the Polaris venv's)."""

    def __init__(self, python: Path, env: dict[str, str]) -> None:
        self.python = python.absolute()  # not resolve(): the venv is found through the symlink
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith(("ANCHOR_", "POLARIS_"))},
                    **env, "DJANGO_SETTINGS_MODULE": "polaris_bench.settings", "PYTHONUNBUFFERED": "1"}
        self.env.pop("PYTHONPATH", None)  # never let the project's packages shadow Polaris's

    def manage(self, *args: str, extra_env: dict[str, str] | None = None, timeout: float = 300) -> str:
        """Run ``manage.py args`` to completion; its stdout."""
        done = subprocess.run([str(self.python), str(MANAGE), *args], env={**self.env, **(extra_env or {})},
                              cwd=HERE, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise PolarisError(f"manage.py {args[0]} exited {done.returncode}:\n{done.stderr[-4000:]}")
        return done.stdout

    def bench(self, *args: str, extra_env: dict[str, str] | None = None, timeout: float = 300) -> Any:
        """``manage.py bench ...``: its JSON answer."""
        out = self.manage("bench", *args, extra_env=extra_env, timeout=timeout)
        return json.loads(out.strip().splitlines()[-1])

    def migrate(self) -> None:
        """Polaris's own migrations 0001-0014 (and Django's), as an existing deployment has them."""
        self.manage("migrate", "--no-input", "-v", "0")
