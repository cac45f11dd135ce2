"""A private Docker daemon: data and exec roots in a temporary directory, its own socket,
no bridge and no iptables rules, so containers only ever use the host's network namespace.

The daemon, its containerd, images and volumes all go when it stops.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from compose.tools import DOCKER, Unavailable

START_TIMEOUT_S = 60


class DockerDaemon:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="anchor-dockerd-"))
        self.socket = self.dir / "docker.sock"
        self.process: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> None:
        if os.geteuid() != 0:
            raise Unavailable("dockerd needs root (rootless Docker is not set up here)")
        log = open(self.dir / "dockerd.log", "wb")
        self.process = subprocess.Popen(
            ["dockerd", "--data-root", str(self.dir / "data"), "--exec-root", str(self.dir / "exec"),
             "--pidfile", str(self.dir / "dockerd.pid"), "--host", self.host,
             "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise Unavailable(f"dockerd exited {self.process.returncode}: {self.log_tail()}")
            if subprocess.run([DOCKER, "-H", self.host, "version"], capture_output=True).returncode == 0:
                return
            time.sleep(0.5)
        raise Unavailable(f"dockerd not answering after {START_TIMEOUT_S}s: {self.log_tail()}")

    def log_tail(self, chars: int = 2000) -> str:
        path = self.dir / "dockerd.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def stop(self) -> None:
        """SIGTERM, then wait: dockerd stops its containers and containerd and unmounts."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._unmount_leftovers()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _unmount_leftovers(self) -> None:
        prefix = str(self.dir)
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
                  if line.split()[1].startswith(prefix)]
        for mount in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True)
