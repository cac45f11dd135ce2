"""Private RabbitMQ and PostgreSQL instances for the tests, on free loopback ports.

Each runs from Debian's packages in a temporary directory, so tests never depend on what
a machine already has and can stop, kill and restart the broker or the database at will.
Set ``ANCHOR_TEST_BROKER_URL`` / ``ANCHOR_TEST_POSTGRES_URL`` to use existing ones instead.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from support.waiting import wait_until

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _chown(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        for name in [root, *(os.path.join(root, d) for d in dirs),
                     *(os.path.join(root, f) for f in files)]:
            os.chown(name, entry.pw_uid, entry.pw_gid)


def _as_user(user: str, argv: list[str]) -> list[str]:
    """Run as ``user`` when we are root (CI and these machines); as ourselves otherwise."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", user, "--", *argv]


class PostgresServer:
    """A throw-away PostgreSQL 15 cluster; ``stop(mode='immediate')`` simulates a crash."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="anchor-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        if os.geteuid() == 0:
            _chown(self.dir, "postgres")
        if not self.data.exists():
            subprocess.run(_as_user(self.user, [str(PG_BIN / "initdb"), "-D", str(self.data),
                                                "-A", "trust", "-U", "postgres", "--no-sync"]),
                           check=True, capture_output=True)
        options = f"-k {self.dir} -h 127.0.0.1 -p {self.port} -c fsync=off -c max_connections=300"
        subprocess.run(_as_user(self.user, [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o",
                                            options, "-l", str(self.dir / "log"), "-w", "start"]),
                       check=True, capture_output=True)
        wait_until(self._ready, 30, "PostgreSQL ready", interval=0.2)

    def _ready(self) -> bool:
        import psycopg2

        try:
            psycopg2.connect(self.admin_url, connect_timeout=2).close()
        except psycopg2.OperationalError:
            return False
        return True

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(_as_user(self.user, [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m",
                                            mode, "-w", "stop"]), capture_output=True)

    def create_database(self, name: str | None = None) -> str:
        import psycopg2

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        conn = psycopg2.connect(self.admin_url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def cleanup(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class RabbitServer:
    """A private RabbitMQ node. ``kill()`` SIGKILLs its Erlang VM; ``start()`` brings it back
    with the same data, as after a crash."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="anchor-rmq-"))
        self.port = free_port()
        self.dist_port = free_port()
        self.node = f"anchor{uuid.uuid4().hex[:8]}@localhost"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq"),
            "HOME": str(self.dir),
        })
        return env

    def start(self, timeout: float = 60) -> None:
        (self.dir / "mnesia").mkdir(exist_ok=True)
        (self.dir / "log").mkdir(exist_ok=True)
        (self.dir / "enabled_plugins").write_text("[].\n")
        (self.dir / "rabbitmq.conf").write_text("consumer_timeout = 1800000\n")
        if os.geteuid() == 0:
            _chown(self.dir, "rabbitmq")
        started_at = time.monotonic()
        log = open(self.dir / "stdout.log", "ab")
        self.process = subprocess.Popen(["rabbitmq-server"], env=self._env(), cwd=self.dir,
                                        stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        wait_until(lambda: self._started_since(started_at), timeout, "RabbitMQ ready", interval=0.3)

    def _started_since(self, started_at: float) -> bool:
        if self.process and self.process.poll() is not None:
            raise RuntimeError(f"rabbitmq-server exited: {(self.dir / 'stdout.log').read_text()[-2000:]}")
        return self._amqp_ok()

    def _amqp_ok(self) -> bool:
        import pika

        try:
            params = pika.URLParameters(self.url + "?connection_attempts=1&socket_timeout=2")
            pika.BlockingConnection(params).close()
        except Exception:
            return False
        return True

    def beam_pids(self) -> list[int]:
        """The Erlang VM(s) of this node: found by the node name in their environment."""
        pids = []
        needle = f"RABBITMQ_NODENAME={self.node}".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if b"beam" not in (entry / "cmdline").read_bytes():
                    continue
                if needle in (entry / "environ").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
        return pids

    def kill(self) -> None:
        for pid in self.beam_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.process:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=10)
            self.process = None
        wait_until(lambda: not self.beam_pids(), 10, "RabbitMQ to die", interval=0.2)

    def stop(self) -> None:
        self.kill()

    def cleanup(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
