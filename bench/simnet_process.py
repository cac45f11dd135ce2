"""simnet in a process of its own, for benchmarks: the anchor's processes and simnet then
compete for the cores as a real Horizon's clients would, never for one interpreter's lock.

Speaks to it over HTTP only (Horizon's endpoints, friendbot and the ``/_simnet/`` admin API),
with the few calls the benchmarks use from the in-process ``Simnet``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import requests
from stellar_sdk import Asset

from simnet.network import STANDALONE_PASSPHRASE

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.services import free_port  # noqa: E402


class SimnetProcess:
    def __init__(self, *, ledger_interval: float, ledger_capacity: int, submission_timeout: float = 60,
                 stream_timeout: float = 55, log: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.passphrase = STANDALONE_PASSPHRASE
        self._argv = [sys.executable, "-c", "from simnet.cli import simnet_command; simnet_command()",
                      "--port", str(self.port), "--ledger-interval", str(ledger_interval),
                      "--ledger-capacity", str(ledger_capacity), "--submission-timeout",
                      str(submission_timeout), "--stream-timeout", str(stream_timeout)]
        self._log = log
        self._process: subprocess.Popen | None = None
        self._http = requests.Session()

    def start(self) -> SimnetProcess:
        out = open(self._log, "wb") if self._log else subprocess.DEVNULL
        self._process = subprocess.Popen(self._argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                self._http.get(self.url + "/", timeout=2).raise_for_status()
                return self
            except requests.RequestException:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("simnet did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._http.close()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def latest_ledger(self) -> int:
        return int(self._http.get(self.url + "/", timeout=10).json()["history_latest_ledger"])

    def friendbot(self, address: str) -> dict:
        response = self._http.get(self.url + "/friendbot", params={"addr": address}, timeout=60)
        response.raise_for_status()
        return response.json()

    def balance(self, account: str, asset: Asset) -> Decimal:
        body = self._http.get(f"{self.url}/accounts/{account}", timeout=30).json()
        for line in body.get("balances", []):
            if line.get("asset_code") == asset.code and line.get("asset_issuer") == asset.issuer:
                return Decimal(line["balance"])
        raise LookupError(f"{account} holds no {asset.code}")

    def payments(self, account: str) -> list[dict]:
        """Every payment-like operation to or from ``account``, from simnet's admin API."""
        response = self._http.get(f"{self.url}/_simnet/payments", params={"account": account}, timeout=60)
        response.raise_for_status()
        body = response.json()
        return body if isinstance(body, list) else body.get("payments", body.get("records", []))
