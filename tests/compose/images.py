"""The images the deployment needs, under the exact names the Dockerfile and
docker-compose.yml use, built without a registry:

- ``python:3.11-slim-bookworm``: a debootstrapped Debian 12 with Python 3.11, pip and venv
  (the same release and Python as the official image), imported as an image;
- ``rabbitmq:3.13-alpine`` and ``postgres:15-alpine``: Debian's servers behind the official
  images' environment contract (``standins/``);
- ``anchor-dramatiq:latest``: the project's own Dockerfile, built by ``docker compose build``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from compose.tools import CACHE, Unavailable, host_ca_bundle

HERE = Path(__file__).resolve().parent
BASE_IMAGE = "python:3.11-slim-bookworm"
STANDINS = {"rabbitmq:3.13-alpine": HERE / "standins" / "rabbitmq",
            "postgres:15-alpine": HERE / "standins" / "postgres"}
ROOTFS_PACKAGES = ("python3", "python3-pip", "python3-venv", "python-is-python3", "ca-certificates")
ROOTFS_TAR = CACHE / f"bookworm-minbase-{'-'.join(ROOTFS_PACKAGES)}.tar"
BASE_CHANGES = ("ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "ENV LANG=C.UTF-8", 'CMD ["python3"]')


def base_rootfs() -> Path:
    """A tarball of ``debootstrap --variant=minbase bookworm`` with Python (cached: ~40 s)."""
    if ROOTFS_TAR.exists():
        return ROOTFS_TAR
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="anchor-rootfs-", dir=CACHE) as tmp:
        root = Path(tmp) / "rootfs"
        subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(ROOTFS_PACKAGES)}",
                        "bookworm", str(root), "http://deb.debian.org/debian"],
                       check=True, timeout=900, stdout=subprocess.DEVNULL)
        # pip may install into the system Python, as in the official image.
        for marker in root.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
            marker.unlink()
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(root / cache, ignore_errors=True)
            (root / cache / "partial").mkdir(parents=True)
        partial = ROOTFS_TAR.with_suffix(".part")
        subprocess.run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), "."], check=True)
        partial.rename(ROOTFS_TAR)
    return ROOTFS_TAR


def import_base_image(docker: list[str]) -> None:
    changes = [arg for change in BASE_CHANGES for arg in ("--change", change)]
    subprocess.run([*docker, "import", *changes, str(base_rootfs()), BASE_IMAGE],
                   check=True, stdout=subprocess.DEVNULL)
    _trust_host_cas(docker)
    probe = subprocess.run([*docker, "run", "--rm", "--network", "host", BASE_IMAGE,
                            "python", "-c", "import sys; print(sys.version_info[:2])"],
                           capture_output=True, text=True, timeout=120)
    if probe.returncode != 0:
        raise Unavailable(f"Docker cannot run a container here: {probe.stderr.strip()[-1500:]}")
    assert probe.stdout.strip() == "(3, 11)", probe.stdout


def _trust_host_cas(docker: list[str]) -> None:
    """Give the base this machine's CA bundle, so pip in builds trusts what pip here trusts
    (the way to reach the package index from here, as a mirror URL would be elsewhere)."""
    bundle = host_ca_bundle()
    if bundle is None:
        return
    with tempfile.TemporaryDirectory(prefix="anchor-ca-") as tmp:
        shutil.copyfile(bundle, Path(tmp) / "ca-certificates.crt")
        (Path(tmp) / "Dockerfile").write_text(
            f"FROM {BASE_IMAGE}\nCOPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt\n")
        subprocess.run([*docker, "build", "--quiet", "-t", BASE_IMAGE, tmp], check=True,
                       stdout=subprocess.DEVNULL)


def build_standins(docker: list[str]) -> None:
    for tag, context in STANDINS.items():
        subprocess.run([*docker, "build", "--network", "host", "--quiet", "-t", tag, str(context)],
                       check=True, stdout=subprocess.DEVNULL, timeout=900)


def image_size(docker: list[str], image: str) -> int:
    out = subprocess.run([*docker, "image", "inspect", "-f", "{{.Size}}", image],
                         check=True, capture_output=True, text=True).stdout
    return int(out.strip())
