"""The real docker-compose.yml brought up on the private daemon, with the loopback override.

``Stack`` writes the env files (``ANCHOR_ENV_DIR``) from deploy/local's, with every address
moved to 127.0.0.1 and a free port, and runs ``docker compose`` with both files and the
``local`` profile, exactly as a user would, plus the override.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from compose.tools import DOCKER, REPO

HERE = Path(__file__).resolve().parent
OVERRIDE = HERE / "docker-compose.loopback.yml"
LOCAL_ENV = REPO / "deploy" / "local"
ANCHOR_SERVICES = ("workers", "submitter", "scheduler", "streamer")
# Faster than the shipped schedules so a run takes a minute, not five. Reconcile is kept to
# once a year so a payment found after a restart can only have come through the cursor.
TEST_SCHEDULES = {"ANCHOR_SCHEDULE_POLL_PENDING_DEPOSITS": "5s",
                  "ANCHOR_SCHEDULE_EXECUTE_OUTGOING": "10s",
                  "ANCHOR_SCHEDULE_POLL_OUTGOING": "5s",
                  "ANCHOR_SCHEDULE_RECONCILE": "0 0 1 1 *"}


def read_env(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value
    return values


def write_env(path: Path, values: dict[str, str]) -> None:
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    path.chmod(0o600)


@dataclass
class Ports:
    """Free loopback ports for every listener of the stack."""

    postgres: int
    amqp: int
    rabbit_dist: int
    epmd: int
    simnet: int
    metrics: dict[str, int] = field(default_factory=dict)

    @classmethod
    def pick(cls, free_port) -> Ports:
        return cls(postgres=free_port(), amqp=free_port(), rabbit_dist=free_port(), epmd=free_port(),
                   simnet=free_port(), metrics={name: free_port() for name in ANCHOR_SERVICES})


class Stack:
    def __init__(self, docker_host: str, docker_config: Path, ports: Ports,
                 build_args: dict[str, str]) -> None:
        self.ports = ports
        self.build_args = build_args
        self.env_dir = Path(tempfile.mkdtemp(prefix="anchor-compose-env-"))
        self.secret_key = secrets.token_urlsafe(32)
        self._write_env_files()
        self.environ = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DOCKER_HOST": docker_host,
                        "DOCKER_CONFIG": str(docker_config), "ANCHOR_ENV_DIR": str(self.env_dir),
                        "ANCHOR_TEST_SIMNET_PORT": str(ports.simnet),
                        **{f"ANCHOR_TEST_{name.upper()}_METRICS_PORT": str(port)
                           for name, port in ports.metrics.items()}}

    def _write_env_files(self) -> None:
        postgres = read_env(LOCAL_ENV / "postgres.env")
        rabbit = read_env(LOCAL_ENV / "rabbitmq.env")
        anchor = read_env(LOCAL_ENV / "anchor.env")
        loopback_dist = "-kernel inet_dist_use_interface {127,0,0,1}"
        write_env(self.env_dir / "postgres.env", {**postgres, "PGPORT": str(self.ports.postgres)})
        write_env(self.env_dir / "rabbitmq.env", {
            **rabbit, "RABBITMQ_NODENAME": "rabbit@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1", "RABBITMQ_NODE_PORT": str(self.ports.amqp),
            "RABBITMQ_DIST_PORT": str(self.ports.rabbit_dist),
            "ERL_EPMD_ADDRESS": "127.0.0.1", "ERL_EPMD_PORT": str(self.ports.epmd),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": loopback_dist,
            "RABBITMQ_CTL_ERL_ARGS": loopback_dist})
        self.database_url = (f"postgresql://{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}"
                             f"@127.0.0.1:{self.ports.postgres}/{postgres['POSTGRES_DB']}")
        self.horizon_url = f"http://127.0.0.1:{self.ports.simnet}"
        broker_url = (f"amqp://{rabbit['RABBITMQ_DEFAULT_USER']}:{rabbit['RABBITMQ_DEFAULT_PASS']}"
                      f"@127.0.0.1:{self.ports.amqp}/{rabbit['RABBITMQ_DEFAULT_VHOST']}")
        write_env(self.env_dir / "anchor.env", {
            **anchor, "ANCHOR_DATABASE_URL": self.database_url, "ANCHOR_BROKER_URL": broker_url,
            "ANCHOR_HORIZON_URL": self.horizon_url, "ANCHOR_SECRET_KEY": self.secret_key,
            "ANCHOR_METRICS_HOST": "127.0.0.1", **TEST_SCHEDULES})

    def compose(self, *args: str, timeout: float = 600, check: bool = True,
                input: str | None = None) -> subprocess.CompletedProcess:
        argv = [DOCKER, "compose", "-f", str(REPO / "docker-compose.yml"), "-f", str(OVERRIDE),
                "--profile", "local", *args]
        result = subprocess.run(argv, env=self.environ, cwd=REPO, capture_output=True, text=True,
                                timeout=timeout, input=input)
        if check and result.returncode != 0:
            raise AssertionError(f"docker compose {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result

    def build(self) -> float:
        """``docker compose build``: the project's image from its Dockerfile; seconds taken."""
        started = time.monotonic()
        build_args = [arg for key, value in self.build_args.items()
                      for arg in ("--build-arg", f"{key}={value}")]
        self.compose("build", *build_args, "migrate", timeout=1200)
        return time.monotonic() - started

    def containers(self) -> dict[str, dict]:
        """Every container of the project (running or exited), by service, from ``docker inspect``."""
        ids = self.compose("ps", "--all", "-q").stdout.split()
        if not ids:
            return {}
        inspected = json.loads(subprocess.run([DOCKER, "inspect", *ids], env=self.environ,
                                              capture_output=True, text=True, check=True).stdout)
        return {c["Config"]["Labels"]["com.docker.compose.service"]: c for c in inspected}

    def docker(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([DOCKER, *args], env=self.environ, capture_output=True, text=True,
                              check=True)

    def logs(self) -> str:
        return self.compose("logs", "--no-color", "--timestamps", check=False, timeout=120).stdout

    def down(self) -> None:
        """Remove every container, volume and the project's image, and the env files."""
        self.compose("down", "--volumes", "--rmi", "all", "--timeout", "30", check=False)
        shutil.rmtree(self.env_dir, ignore_errors=True)
