"""Everything the deployment test starts, in order, and stops again: tools, the private
daemon, the stand-in images, the project's image and the compose stack."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from compose import images, tools
from compose.daemon import DockerDaemon
from compose.stack import Ports, Stack

LOGS = tools.CACHE / "last-run.log"
REPORT = tools.CACHE / "report.json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Deployment:
    stack: Stack
    figures: dict = field(default_factory=dict)


@contextmanager
def deployed() -> Iterator[Deployment]:
    """Raise ``tools.Unavailable`` when Docker cannot run here; otherwise build everything and
    yield; remove every container, volume, image and the daemon afterwards."""
    tools.ensure_debian_packages()
    docker_config = tools.docker_config_dir()
    daemon = DockerDaemon()
    stack = None
    try:
        daemon.start()
        docker = [tools.DOCKER, "-H", daemon.host]
        started = time.monotonic()
        images.import_base_image(docker)
        images.build_standins(docker)
        figures = {"standin_images_seconds": round(time.monotonic() - started, 1)}
        stack = Stack(daemon.host, docker_config, Ports.pick(free_port), tools.pip_build_args())
        figures["image_build_seconds"] = round(stack.build(), 1)
        figures["image_size_mb"] = round(images.image_size(docker, "anchor-dramatiq:latest") / 1e6, 1)
        yield Deployment(stack, figures)
    finally:
        if stack is not None:
            with suppress(Exception):
                LOGS.write_text(stack.logs())
            stack.down()
            for tag in (*images.STANDINS, images.BASE_IMAGE):
                with suppress(Exception):
                    stack.docker("rmi", "--force", tag)
        daemon.stop()


def write_report(figures: dict, path: Path = REPORT) -> None:
    path.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
