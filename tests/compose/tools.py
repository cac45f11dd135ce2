"""What the deployment test needs on the machine: Debian's Docker and debootstrap, and the
compose v2 plugin (Debian trixie's ``docker-compose`` 2.26; bookworm's 1.29 rejects ``name``).

The plugin is fetched with apt from a temporary sources list, so the machine's own apt
configuration is never changed, and cached under ``.cache/compose/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "compose"
DEBIAN_PACKAGES = ("docker.io", "tini", "debootstrap")
COMPOSE_SUITE = "trixie"
DOCKER = "/usr/bin/docker"  # Debian's CLI, the same release as the daemon it talks to


class Unavailable(Exception):
    """Docker cannot run on this machine at all: the reason to skip, said plainly."""


def ensure_debian_packages() -> None:
    """Install Docker, tini (``init: true``) and debootstrap from the machine's apt sources."""
    missing = [p for p in DEBIAN_PACKAGES if not _installed(p)]
    if not missing:
        return
    if os.geteuid() != 0:
        raise Unavailable(f"{', '.join(missing)} not installed and not root to install them")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                   env=env, check=True, timeout=900, stdout=subprocess.DEVNULL)


def _installed(package: str) -> bool:
    result = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package],
                            capture_output=True, text=True)
    return result.returncode == 0 and result.stdout.endswith(" installed")


def docker_config_dir() -> Path:
    """A DOCKER_CONFIG directory whose ``cli-plugins/`` holds the compose v2 plugin."""
    config = CACHE / "docker-config"
    plugin = config / "cli-plugins" / "docker-compose"
    if not plugin.exists():
        plugin.parent.mkdir(parents=True, exist_ok=True)
        _fetch_compose_plugin(plugin)
    return config


def _fetch_compose_plugin(target: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="anchor-compose-apt-") as tmp:
        root = Path(tmp)
        (root / "sources.list").write_text(
            "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
            f"http://deb.debian.org/debian {COMPOSE_SUITE} main\n")
        (root / "lists" / "partial").mkdir(parents=True)
        (root / "cache" / "archives" / "partial").mkdir(parents=True)
        options = ["-o", f"Dir::Etc::SourceList={root / 'sources.list'}",
                   "-o", "Dir::Etc::SourceParts=/dev/null",
                   "-o", f"Dir::State::Lists={root / 'lists'}",
                   "-o", f"Dir::Cache={root / 'cache'}",
                   "-o", "APT::Sandbox::User=root", "-qq"]
        subprocess.run(["apt-get", *options, "update"], check=True, timeout=600)
        subprocess.run(["apt-get", *options, "download", "docker-compose"], cwd=root,
                       check=True, timeout=600)
        deb = next(root.glob("docker-compose_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root / "x")], check=True)
        built = root / "x" / "usr" / "libexec" / "docker" / "cli-plugins" / "docker-compose"
        shutil.copy2(built, target.with_suffix(".part"))
        target.with_suffix(".part").rename(target)


def pip_build_args() -> dict[str, str]:
    """The package index pip uses here, for ``pip install`` inside image builds.

    Only http(s) indexes can be reached from a build; ``file://`` ones (local wheel mirrors)
    and find-links directories are this machine's disk, not the build's.
    """
    args = {}
    for key, name in (("index-url", "PIP_INDEX_URL"), ("extra-index-url", "PIP_EXTRA_INDEX_URL"),
                      ("trusted-host", "PIP_TRUSTED_HOST")):
        value = os.environ.get(name) or _pip_config(key)
        urls = [v for v in value.split() if key == "trusted-host" or v.startswith(("http://", "https://"))]
        if urls:
            args[name] = " ".join(urls)
    return args


def host_ca_bundle() -> Path | None:
    """The CA bundle pip trusts here: a TLS-inspecting proxy's CA is in it, not in Debian's."""
    path = os.environ.get("PIP_CERT") or _pip_config("cert") or "/etc/ssl/certs/ca-certificates.crt"
    return Path(path) if Path(path).is_file() else None


def _pip_config(key: str) -> str:
    for scope in ("global", "user", "site"):
        result = subprocess.run(["python3", "-m", "pip", "config", "get", f"{scope}.{key}"],
                                capture_output=True, text=True)
        if result.returncode == 0 and result.stdout.strip():
            return result.stdout.strip()
    return ""
