"""deploy/docker: Dockerfiles and compose.yaml checked without a Docker engine.

The Dockerfiles are parsed by the `dockerfile` package (Docker's own Go parser); compose.yaml is
validated against the Compose Specification JSON schema shipped by check-jsonschema, then checked for
what the schema cannot know: commands, mounts and environment that match the rest of deploy/.
Building the images (and the CUDA image running on a GPU) is not tested here.
"""

from __future__ import annotations

import importlib
import importlib.resources
import json
import os
import re
import shutil
import socket
import subprocess
import time
import tomllib
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

import pytest

from cast_pipeline_tests.conftest import REPO_ROOT
from cast_pipeline_tests.deploy.deploykit import (
    COMPOSE_ENV_EXAMPLE,
    COMPOSE_YAML,
    DAGSTER_YAML,
    DEPLOY,
    DOCKER,
    GRPC_PORTS,
    LOCATIONS,
    WORKSPACE_YAML,
    compose_variables,
    env_refs,
    interpolate_all,
    load_yaml,
    parse_grpc_command,
    read_env_file,
)

INSTRUCTIONS = {
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
}  # fmt: skip
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# Dockerfile -> the code location its default command serves.
DOCKERFILES = {"Dockerfile": "core", "Dockerfile.gpu": "transcribe_gpu"}
# open the Dagster instance
INSTANCE_SERVICES = ("core", "webserver", "daemon", "transcribe-gpu", "fleet", "worker", "worker-gpu")
GRPC_SERVICES = {"core": "core", "transcribe-gpu": "transcribe_gpu"}


def _require(module: str) -> ModuleType:
    """A dev dependency of these tests: skipped locally if missing, an error under CI."""
    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"{module} not installed (pip install -e '.[dev]')")


def _commands(name: str) -> list[Any]:
    dockerfile = _require("dockerfile")
    return list(dockerfile.parse_file(str(DOCKER / name)))


def _stages(commands: list[Any]) -> list[list[Any]]:
    stages: list[list[Any]] = []
    for command in commands:
        if command.cmd == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(command)
    return stages


def _arg_defaults(commands: list[Any]) -> dict[str, str]:
    defaults = {}
    for command in commands:
        if command.cmd == "ARG":
            for item in command.value:
                name, _, default = item.partition("=")
                defaults.setdefault(name, default)
    return defaults


def _torch_pin() -> str:
    (spec,) = [dep for dep in PYPROJECT["project"]["dependencies"] if re.match(r"torch\b", dep)]
    match = re.search(r"<=\s*([\d.]+)", spec)
    assert match, f"pyproject pins torch with an upper bound; got {spec!r}"
    return match.group(1)


def _dockerignore_includes(name: str) -> list[str]:
    lines = (DOCKER / f"{name}.dockerignore").read_text(encoding="utf-8").splitlines()
    assert "*" in lines, "the ignore file starts from nothing so .venv and data never reach the daemon"
    return [line[1:].rstrip("/") for line in lines if line.startswith("!")]


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_dockerfile_instructions_are_valid(name: str) -> None:
    commands = _commands(name)
    unknown = [f"line {c.start_line}: {c.cmd}" for c in commands if c.cmd not in INSTRUCTIONS]
    assert not unknown, f"{name}: unknown instructions {unknown}"
    before_from = [c.cmd for c in commands[: [c.cmd for c in commands].index("FROM")]]
    assert set(before_from) <= {"ARG"}, f"{name}: only ARG may precede the first FROM, got {before_from}"
    earlier_stages: list[str] = []
    for stage in _stages(commands):
        for command in stage:
            for flag in command.flags:
                if flag.startswith("--from="):
                    assert flag.removeprefix("--from=") in earlier_stages, f"{name}: {command.original!r}"
        value = stage[0].value
        if len(value) == 3:
            assert value[1].upper() == "AS", f"{name}: bad FROM {stage[0].original!r}"
            earlier_stages.append(value[2])
        else:
            assert len(value) == 1, f"{name}: bad FROM {stage[0].original!r}"


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_dockerfile_copies_only_existing_included_files(name: str) -> None:
    included = _dockerignore_includes(name)
    sources = [
        source
        for command in _commands(name)
        if command.cmd in {"COPY", "ADD"} and not any(f.startswith("--from=") for f in command.flags)
        for source in command.value[:-1]
    ]
    assert sources, f"{name} copies the project in"
    for source in sources:
        assert (REPO_ROOT / source).exists(), f"{name}: COPY {source}: no such path in the repository"
        assert source.rstrip("/") in included, f"{name}: {source} is excluded by {name}.dockerignore"
    assert {"pyproject.toml", "README.md", "cast_pipeline"} <= {s.rstrip("/") for s in sources}


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_dockerfile_installs_pinned_torch_before_the_package(name: str) -> None:
    runs = [(c.start_line, c.value[0]) for c in _commands(name) if c.cmd == "RUN"]
    torch = [line for line, script in runs if f'"torch=={_torch_pin()}"' in script]
    package = [line for line, script in runs if re.search(r"pip install \"?\.(\[|\"|\s|$)", script)]
    assert torch, f"{name}: install torch=={_torch_pin()} (the pyproject upper bound) explicitly"
    assert package, f"{name}: installs the project with `pip install .`"
    assert torch[0] < package[0], f"{name}: torch must come first, or pip pulls another build"
    if name == "Dockerfile":
        assert any("download.pytorch.org/whl/cpu" in s for _, s in runs), "CPU image: torch from the CPU index"


@pytest.mark.parametrize(("name", "location"), sorted(DOCKERFILES.items()))
def test_dockerfile_default_command_serves_its_location(name: str, location: str) -> None:
    final = _stages(_commands(name))[-1]
    (cmd,) = [c for c in final if c.cmd == "CMD"]
    assert cmd.json, f"{name}: CMD in exec form, so dagster gets the container's stop signal"
    server = parse_grpc_command(cmd.value)
    assert (server.module, server.location_name, server.port) == (LOCATIONS[location], location, GRPC_PORTS[location])
    assert server.host == "0.0.0.0"
    assert any(c.cmd == "USER" and c.value[0] != "root" for c in final), f"{name}: runs as a non-root user"


def test_gpu_dockerfile_base_and_extras() -> None:
    commands = _commands("Dockerfile.gpu")
    args = _arg_defaults(commands)
    base = args["CUDA_IMAGE"]
    assert base.startswith("nvidia/cuda:") and "cudnn" in base and "runtime" in base, base
    assert all(stage[0].value[0] == "${CUDA_IMAGE}" for stage in _stages(commands))
    extras = PYPROJECT["project"]["optional-dependencies"]
    documented = re.findall(r"EXTRAS=(\w+(?:,\w+)*)", (DOCKER / "Dockerfile.gpu").read_text(encoding="utf-8"))
    for value in [args["EXTRAS"], *documented]:
        missing = set(value.split(",")) - set(extras)
        assert not missing, f"EXTRAS={value}: no such extra in pyproject.toml: {missing}"
    assert any("python3.11" in c.value[0] for c in commands if c.cmd == "RUN")
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"


def test_cpu_dockerfile_python_matches_project() -> None:
    (base,) = [stage[0].value[0] for stage in _stages(_commands("Dockerfile"))]
    assert base.startswith("python:3.11"), base


# --- compose ---------------------------------------------------------------------------------------


def _compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    return interpolate_all(load_yaml(COMPOSE_YAML), read_env_file(COMPOSE_ENV_EXAMPLE) if env is None else env)


def _compose_schema() -> dict[str, Any]:
    _require("check_jsonschema")
    schema = importlib.resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    return json.loads(schema.read_text(encoding="utf-8"))


@pytest.mark.parametrize("env_source", ["env.example", "required only"])
def test_compose_matches_compose_specification(env_source: str) -> None:
    jsonschema = _require("jsonschema")
    env = read_env_file(COMPOSE_ENV_EXAMPLE) if env_source == "env.example" else {"DAGSTER_PG_PASSWORD": "x"}
    validator = jsonschema.Draft202012Validator(_compose_schema())
    errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(_compose(env))]
    assert not errors, "\n".join(errors)


def test_compose_schema_check_can_fail() -> None:
    jsonschema = _require("jsonschema")
    broken = _compose()
    broken["services"]["core"]["healthcheck"]["interval"] = 15  # a number, not a duration string
    broken["services"]["core"]["comand"] = ["typo"]
    assert len(list(jsonschema.Draft202012Validator(_compose_schema()).iter_errors(broken))) >= 1


def test_compose_required_variables_are_in_env_example() -> None:
    documented = read_env_file(COMPOSE_ENV_EXAMPLE)
    commented = set(re.findall(r"^# ?([A-Z_][A-Z0-9_]*)=", COMPOSE_ENV_EXAMPLE.read_text(), re.MULTILINE))
    for name, op, _ in compose_variables(load_yaml(COMPOSE_YAML)):
        if op in (":?", "?", None):
            assert name in documented, f"compose needs ${{{name}}}: set it in docker/env.example"
        else:
            assert name in documented or name in commented, f"${{{name}}} is not mentioned in docker/env.example"
    with pytest.raises(KeyError, match="DAGSTER_PG_PASSWORD"):
        _compose({})


def test_compose_services_and_builds() -> None:
    services = _compose()["services"]
    fleet = {"redis", "fleet", "worker", "worker-gpu"}
    assert set(services) == {"postgres", "core", "webserver", "daemon", "transcribe-gpu"} | fleet
    built = {}
    for name, service in services.items():
        if "build" in service:
            context = (COMPOSE_YAML.parent / service["build"]["context"]).resolve()
            assert context == REPO_ROOT, f"{name}: build context is the repository root"
            dockerfile = context / service["build"]["dockerfile"]
            assert dockerfile.is_file(), f"{name}: {dockerfile} missing"
            built[service["image"]] = dockerfile.name
    for name in ("webserver", "daemon"):
        assert built.get(services[name]["image"]) == "Dockerfile", f"{name} uses the image that `core` builds"
    assert services["transcribe-gpu"]["profiles"] == ["gpu"], "the GPU location is opt-in"
    devices = services["transcribe-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices)


def test_compose_grpc_services_serve_the_workspace_locations() -> None:
    services = _compose()["services"]
    for name, location in GRPC_SERVICES.items():
        server = parse_grpc_command(services[name]["command"])
        expected = (LOCATIONS[location], location, GRPC_PORTS[location])
        assert (server.module, server.location_name, server.port) == expected
        health = ["CMD", "dagster", "api", "grpc-health-check", "-p", str(server.port)]
        assert services[name]["healthcheck"]["test"] == health
    env = services["webserver"]["environment"]
    assert env["CAST_CORE_HOST"] == "core", "the workspace reaches `core` by its service name"


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """container path -> source (host path resolved against the compose file, or volume name)."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            source = str((COMPOSE_YAML.parent / source).resolve()) if source.startswith(".") else source
        mounts[target] = source
    return mounts


def test_compose_instance_services_have_config_env_and_shared_storage() -> None:
    compose = _compose()
    services = compose["services"]
    instance_vars = env_refs(load_yaml(DAGSTER_YAML))
    workspace_vars = env_refs(load_yaml(WORKSPACE_YAML))
    for name in INSTANCE_SERVICES:
        service = services[name]
        env, mounts = service["environment"], _mounts(service)
        missing = (instance_vars | {"DAGSTER_HOME", "CAST_DATA_DIR"}) - set(env)
        assert not missing, f"{name}: deploy/dagster.yaml needs {sorted(missing)}"
        shared = [target for target, source in mounts.items() if source == env["CAST_DATA_DIR"] or target == "/data"]
        assert shared == [env["CAST_DATA_DIR"]], f"{name}: CAST_DATA_DIR must be the shared mount"
        for var in ("DAGSTER_COMPUTE_LOG_DIR", "DAGSTER_ARTIFACT_DIR", "CAST_FEEDS_FILE"):
            assert PurePosixPath(env[var]).is_relative_to(env["CAST_DATA_DIR"]), f"{name}: {var} on shared storage"
        for var, value in env.items():
            if var.startswith("DAGSTER_PG_"):
                assert value == services["daemon"]["environment"][var], f"{name}: {var} differs from the daemon's"
    for name in ("webserver", "daemon"):
        env, mounts = services[name]["environment"], _mounts(services[name])
        assert workspace_vars <= set(env), f"{name}: deploy/workspace.yaml needs {sorted(workspace_vars - set(env))}"
        home = PurePosixPath(env["DAGSTER_HOME"])
        assert mounts[str(home / "dagster.yaml")] == str(DAGSTER_YAML)
        assert mounts[str(home / "workspace.yaml")] == str(WORKSPACE_YAML)
        command = services[name]["command"]
        assert command[command.index("-w") + 1] == str(home / "workspace.yaml")
    declared = set(compose.get("volumes", {}))
    for name, service in services.items():
        for source in _mounts(service).values():
            assert source.startswith("/") or source in declared, f"{name}: volume {source!r} not declared"


def test_compose_postgres_credentials_match_instance_env() -> None:
    services = _compose()["services"]
    pg, env = services["postgres"]["environment"], services["daemon"]["environment"]
    assert (pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"], pg["POSTGRES_DB"]) == (
        env["DAGSTER_PG_USER"],
        env["DAGSTER_PG_PASSWORD"],
        env["DAGSTER_PG_DB"],
    )
    assert env["DAGSTER_PG_HOST"] == "postgres"
    for name, service in services.items():
        for dependency, spec in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if spec.get("condition") == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits for {dependency}'s missing healthcheck"


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    """The real parser, where the Docker CLI has the compose plugin (no engine needed)."""
    docker = shutil.which("docker")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True) if docker else None
    if probe is None or probe.returncode != 0:
        pytest.skip("docker CLI with the compose plugin not installed (the other compose tests still run)")
    files = ["-f", str(COMPOSE_YAML), "--env-file", str(COMPOSE_ENV_EXAMPLE)]
    result = subprocess.run(
        [docker, "compose", *files, "--profile", "gpu", "--profile", "fleet", "--profile", "fleet-gpu", "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


# --- compose profile fleet ---------------------------------------------------------------------------


def test_compose_fleet_profile_is_opt_in_and_wired_to_one_redis() -> None:
    """Redis, the fleet location and workers only with --profile fleet / fleet-gpu; all on one broker URL."""
    env = {**read_env_file(COMPOSE_ENV_EXAMPLE), "CAST_REDIS_PASSWORD": "0123abcd"}
    services = _compose(env)["services"]
    assert {n: s.get("profiles") for n, s in services.items() if n in ("redis", "fleet", "worker", "worker-gpu")} == {
        "redis": ["fleet"],
        "fleet": ["fleet"],
        "worker": ["fleet"],
        "worker-gpu": ["fleet-gpu"],
    }
    server = parse_grpc_command(services["fleet"]["command"])
    fleet_workspace = load_yaml(DEPLOY / "fleet" / "workspace.yaml")
    [entry] = [e["grpc_server"] for e in fleet_workspace["load_from"] if e["grpc_server"]["location_name"] == "fleet"]
    assert (server.module, server.location_name) == ("cast_pipeline.locations.fleet", "fleet")
    assert server.port == entry["port"], "the port deploy/fleet/workspace.yaml connects to"
    assert "ports" not in services["fleet"] and "ports" not in services["worker"], "reached inside compose only"
    assert env_refs(fleet_workspace) <= set(services["daemon"]["environment"]), "the fleet workspace's hosts"
    assert services["daemon"]["environment"]["CAST_FLEET_HOST"] == "fleet"
    for name, queue in (("worker", "speech-cpu"), ("worker-gpu", "speech-cuda")):
        assert services[name]["command"] == ["cast-pipeline", "worker", "--queue", queue]
    brokers = {services[n]["environment"]["CAST_CELERY_BROKER_URL"] for n in ("fleet", "worker", "worker-gpu")}
    assert brokers == {"redis://:0123abcd@redis:6379/0"}
    switched = _compose({**env, "CAST_WORKSPACE_FILE": "../fleet/workspace.yaml"})["services"]["daemon"]
    assert _mounts(switched)["/opt/dagster/dagster_home/workspace.yaml"] == str(DEPLOY / "fleet" / "workspace.yaml")


def test_compose_redis_command_demands_a_password_and_persists(tmp_path: Path) -> None:
    """The redis service's own command line, run here with this machine's redis-server on a free port."""
    import redis

    redis_server = shutil.which("redis-server")
    if redis_server is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server needed under CI")
        pytest.skip("redis-server not installed")
    service = load_yaml(COMPOSE_YAML)["services"]["redis"]
    argv = [arg.replace("$$", "$") for arg in service["command"]]  # compose's escaping of the shell's `$`
    assert argv[:2] == ["bash", "-c"] and "--appendonly yes" in argv[2] and "requirepass" not in " ".join(argv[:2])
    refused = subprocess.run(argv, env={"PATH": os.environ["PATH"]}, capture_output=True, text=True, timeout=30)
    assert refused.returncode == 64 and "CAST_REDIS_PASSWORD" in refused.stderr
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv[2] = argv[2].replace("--dir /data", f"--dir {tmp_path} --port {port} --bind 127.0.0.1")
    env = {"PATH": os.environ["PATH"], "CAST_REDIS_PASSWORD": "0123abcd"}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        authed = redis.Redis(port=port, password="0123abcd", socket_timeout=2)
        deadline = time.monotonic() + 30
        while True:
            try:
                authed.ping()
                break
            except redis.exceptions.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, "redis did not start"
                time.sleep(0.2)
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis(port=port, socket_timeout=2).ping()
        assert authed.config_get("appendonly") == {"appendonly": "yes"}
        comm = Path(f"/proc/{proc.pid}/comm")
        assert not comm.exists() or comm.read_text().strip() == "redis-server", "exec: docker stop reaches Redis"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
