"""deploy/fleet: the fleet's workspace, worker and location units, Mac agent and env file agree.

The fleet (deploy/README.md, "Fleet") is the server's `core` and `fleet` locations plus any number of
`cast-pipeline worker --queue Q` machines that connect out to Redis and PostgreSQL. These checks read
the files as systemd, launchd, Dagster and Redis read them; the commands are checked against our CLI
where the worker command exists.
"""

from __future__ import annotations

import plistlib
import re
import shlex
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pytest
from dagster._core.workspace.load import location_origins_from_yaml_paths

from cast_pipeline.speech.backends import BACKENDS
from cast_pipeline_tests.deploy.deploykit import (
    DAGSTER_YAML,
    env_refs,
    load_yaml,
    parse_grpc_command,
    parse_systemd_unit,
    read_env_file,
)
from cast_pipeline_tests.deploy.exposure import FLEET, REDIS_CONF, redis_directives

WORKSPACE = FLEET / "workspace.yaml"
ENV = FLEET / "env.example"
WORKER_UNIT = FLEET / "systemd" / "cast-worker@.service"
FLEET_UNIT = FLEET / "systemd" / "cast-fleet.service"
MAC_PLIST = FLEET / "launchd" / "org.castpipeline.worker-mps.plist"
QUEUES = ("speech-cuda", "speech-mps", "speech-cpu")
# What every worker needs: the instance (deploy/dagster.yaml), the broker, the shared folder.
WORKER_NEEDS = env_refs(load_yaml(DAGSTER_YAML)) | {"DAGSTER_HOME", "CAST_DATA_DIR", "CAST_CELERY_BROKER_URL"}
FLEET_SETTINGS = {
    "CAST_CELERY_BACKEND_URL", "CAST_CELERY_VISIBILITY_TIMEOUT", "CAST_CELERY_WORKER_LOST_SECONDS",
    "CAST_WORKER_CONCURRENCY", "CAST_SPEECH_MODEL",
}  # fmt: skip


def _plist() -> dict:
    with MAC_PLIST.open("rb") as fh:
        return plistlib.load(fh)


def test_workspace_is_core_and_fleet_on_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    env = read_env_file(ENV)
    for var in env_refs(load_yaml(WORKSPACE)):
        monkeypatch.setenv(var, env[var])  # KeyError: the env file misses a workspace variable
    origins = {o.location_name: o for o in location_origins_from_yaml_paths([str(WORKSPACE)])}
    assert set(origins) == {"core", "fleet"}, "workers are not locations: adding one changes nothing here"
    assert (origins["core"].host, origins["core"].port) == ("127.0.0.1", 4000)
    assert (origins["fleet"].host, origins["fleet"].port) == ("127.0.0.1", 4003)
    core = parse_grpc_command(
        shlex.split(parse_systemd_unit(FLEET.parent / "systemd" / "cast-core.service").one("Service", "ExecStart"))
    )
    fleet = parse_grpc_command(shlex.split(parse_systemd_unit(FLEET_UNIT).one("Service", "ExecStart")))
    assert (core.host, core.port, core.location_name) == ("127.0.0.1", 4000, "core")
    assert (fleet.module, fleet.host, fleet.port, fleet.location_name) == (
        "cast_pipeline.locations.fleet", "127.0.0.1", 4003, "fleet",
    )  # fmt: skip


@pytest.mark.parametrize("path", [WORKER_UNIT, FLEET_UNIT], ids=lambda p: p.name)
def test_unit_structure(path: Path) -> None:
    unit = parse_systemd_unit(path)
    assert set(unit.sections) == {"Unit", "Service", "Install"}
    assert {"network-online.target", "remote-fs.target"} <= set(unit.words("Unit", "After"))
    assert "network-online.target" in unit.words("Unit", "Wants")
    assert unit.one("Service", "User") not in {"", "root"}
    assert unit.get("Service", "EnvironmentFile")[0] == "/etc/cast-pipeline/env"
    assert unit.one("Service", "Restart") in {"on-failure", "always"}
    assert unit.one("Install", "WantedBy") == "multi-user.target"
    assert PurePosixPath(shlex.split(unit.one("Service", "ExecStart"))[0]).is_absolute()


def test_worker_unit_runs_the_queue_of_its_instance() -> None:
    unit = parse_systemd_unit(WORKER_UNIT)
    argv = shlex.split(unit.one("Service", "ExecStart"))
    assert PurePosixPath(argv[0]).name == "cast-pipeline"
    assert argv[1:] == ["worker", "--queue", "%i"], "one unit file, the queue is the instance: cast-worker@speech-cuda"
    # The optional per-queue file comes after the shared one, so its values win.
    assert unit.get("Service", "EnvironmentFile") == ["/etc/cast-pipeline/env", "-/etc/cast-pipeline/worker-%i.env"]
    assert unit.one("Service", "Restart") == "always", "a worker that exits rejoins the fleet"
    # Celery: SIGTERM to the main process only is its warm shutdown (finish the step in progress).
    assert (unit.one("Service", "KillMode"), unit.one("Service", "KillSignal")) == ("mixed", "SIGTERM")
    assert re.fullmatch(r"\d+min", unit.one("Service", "TimeoutStopSec")), "room to finish an episode"


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze not installed (the structural checks above still run)")
    problems = []
    for name, source in [("cast-worker@speech-cuda.service", WORKER_UNIT), (FLEET_UNIT.name, FLEET_UNIT)]:
        shutil.copy(source, tmp_path / name)
        result = subprocess.run(
            [tool, "verify", "--man=no", str(tmp_path / name)], capture_output=True, text=True, timeout=60
        )
        problems += [
            line
            for line in (result.stdout + result.stderr).splitlines()
            if line.strip() and "is not executable: No such file or directory" not in line
        ]
    assert not problems, "\n".join(problems)


def test_env_file_names_every_variable_the_hosts_need() -> None:
    env = read_env_file(ENV)
    missing = (WORKER_NEEDS | FLEET_SETTINGS | env_refs(load_yaml(WORKSPACE))) - set(env)
    assert not missing, f"deploy/fleet/env.example misses {sorted(missing)}"
    for var in ("DAGSTER_COMPUTE_LOG_DIR", "DAGSTER_ARTIFACT_DIR", "CAST_FEEDS_FILE"):
        assert PurePosixPath(env[var]).is_relative_to(env["CAST_DATA_DIR"]), f"{var} on the shared mount"
    # One env file for every queue: the hardware comes from the queue (`cast-pipeline worker` fills it in).
    assert not {"CAST_SPEECH_BACKEND", "CAST_SPEECH_DEVICE"} & set(env), "would force one device on every queue"
    for path in (WORKER_UNIT, FLEET_UNIT):
        used = set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", parse_systemd_unit(path).one("Service", "ExecStart")))
        assert used <= set(env), f"{path.name} uses {sorted(used - set(env))}"


def test_visibility_timeout_outlasts_an_episode() -> None:
    """Shorter than the slowest step and Redis hands a running step to a second worker."""
    timeout = int(read_env_file(ENV)["CAST_CELERY_VISIBILITY_TIMEOUT"])
    assert 3600 <= timeout <= 24 * 3600
    assert int(_plist()["EnvironmentVariables"]["CAST_CELERY_VISIBILITY_TIMEOUT"]) == timeout


def test_broker_url_matches_the_redis_config() -> None:
    """The examples agree: the URL's host is Redis's private bind address, its password requirepass."""
    redis = redis_directives(REDIS_CONF)
    urls = [read_env_file(ENV)["CAST_CELERY_BROKER_URL"], _plist()["EnvironmentVariables"]["CAST_CELERY_BROKER_URL"]]
    for url in urls:
        parts = urlsplit(url)
        assert parts.scheme in {"redis", "rediss"}
        assert parts.password == redis["requirepass"][-1][0], "the password of deploy/fleet/redis.conf"
        assert parts.hostname in redis["bind"][-1] and parts.hostname != "127.0.0.1", "the server's private address"
        assert parts.port == int(redis["port"][-1][0])
    tls = re.findall(r"rediss://\S+", REDIS_CONF.read_text() + ENV.read_text())
    assert tls and all("ssl_cert_reqs=required" in url for url in tls), "Celery refuses rediss:// without it"


def test_redis_config_keeps_queued_work() -> None:
    redis = redis_directives(REDIS_CONF)
    assert redis["appendonly"] == [["yes"]] and redis["appendfsync"] == [["everysec"]]
    assert redis["protected-mode"] == [["yes"]]
    assert redis["maxmemory-policy"] == [["noeviction"]], "a broker must never evict queued steps"
    commented = re.findall(r"(?m)^# (tls-port|tls-cert-file|tls-key-file|tls-ca-cert-file) ", REDIS_CONF.read_text())
    assert len(set(commented)) == 4, "TLS settings documented (commented) in the file"


def test_mac_worker_agent() -> None:
    plist = _plist()
    assert plist["Label"] == MAC_PLIST.stem
    argv = plist["ProgramArguments"]
    assert PurePosixPath(argv[0]).is_absolute() and PurePosixPath(argv[0]).name == "cast-pipeline"
    assert argv[1:] == ["worker", "--queue", "speech-mps"]
    assert plist["RunAtLoad"] is True and plist["KeepAlive"] is True
    env = plist["EnvironmentVariables"]
    assert all(isinstance(value, str) for value in env.values())
    assert set(env) >= WORKER_NEEDS, f"add {sorted(WORKER_NEEDS - set(env))}"
    assert env["CAST_SPEECH_BACKEND"] == "mlx-whisper" and env["CAST_SPEECH_BACKEND"] in BACKENDS
    for var in ("DAGSTER_COMPUTE_LOG_DIR", "DAGSTER_ARTIFACT_DIR", "CAST_FEEDS_FILE"):
        assert PurePosixPath(env[var]).is_relative_to(env["CAST_DATA_DIR"])


@pytest.mark.parametrize("queue", QUEUES)
def test_worker_command_exists_with_the_shipped_arguments(queue: str) -> None:
    """Our CLI parses exactly what the unit and the plist run (once `cast-pipeline worker` exists)."""
    from typer.main import get_command

    from cast_pipeline.cli.main import app

    command = get_command(app)
    if "worker" not in getattr(command, "commands", {}):
        pytest.skip("`cast-pipeline worker` is not in this tree yet (issue 12, fleet code)")
    worker = command.commands["worker"]
    (option,) = [param for param in worker.params if "--queue" in param.opts]
    ctx = worker.make_context("worker", ["--queue", queue])
    assert getattr(ctx.params[option.name], "value", ctx.params[option.name]) == queue


def test_fleet_location_module_matches_the_workspace() -> None:
    """The module cast-fleet.service serves defines one Definitions, under the workspace's location name."""
    import importlib.util

    import dagster as dg

    if importlib.util.find_spec("cast_pipeline.locations.fleet") is None:
        pytest.skip("cast_pipeline.locations.fleet is not in this tree yet (issue 12, fleet code)")
    import cast_pipeline.locations.fleet as module

    found = [value for value in vars(module).values() if isinstance(value, dg.Definitions)]
    assert len(found) == 1, "`dagster api grpc -m` needs exactly one Definitions"
    (entry,) = [e["grpc_server"] for e in load_yaml(WORKSPACE)["load_from"] if e["grpc_server"]["port"] == 4003]
    assert module.LOCATION_NAME == entry["location_name"] == "fleet"
