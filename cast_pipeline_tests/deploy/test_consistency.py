"""The production files agree with each other: location names, modules, env vars and documentation.

Each file is right on its own (the other deploy tests); these checks catch the edits that change one
file and forget another, e.g. renaming a location in workspace.yaml but not its run cap.
"""

from __future__ import annotations

import plistlib
import re
import shlex
from typing import Any

from cast_pipeline.fleet import settings as fleet
from cast_pipeline.settings import SETTINGS
from cast_pipeline.speech.backends import BACKENDS
from cast_pipeline_tests.deploy.deploykit import (
    COMPOSE_ENV_EXAMPLE,
    COMPOSE_YAML,
    DAGSTER_YAML,
    DEPLOY,
    ENV_EXAMPLE,
    LAUNCHD_PLIST,
    LOCATIONS,
    SYSTEMD,
    WORKSPACE_YAML,
    GrpcServer,
    env_refs,
    interpolate_all,
    load_yaml,
    parse_grpc_command,
    parse_systemd_unit,
    read_env_file,
)

# CAST_* variables that only the deployment files use (not settings of the package).
DEPLOY_ONLY_VARS = {
    "CAST_CORE_HOST", "CAST_GPU_HOST", "CAST_MAC_HOST", "CAST_SHARED_DIR", "CAST_GPU_EXTRAS",
    "CAST_IMAGE_TAG", "CAST_WEBSERVER_PUBLISH", "CAST_GPU_PUBLISH", "CAST_BIND_ADDRESS", "CAST_FLEET_HOST",
    "CAST_REDIS_PASSWORD", "CAST_REDIS_HOST", "CAST_REDIS_PUBLISH", "CAST_WORKSPACE_FILE",  # compose profile fleet
}  # fmt: skip
# The fleet's settings (deploy/fleet/), read by `cast-pipeline worker` and the fleet location; listed
# here too so this file does not depend on where the package declares them.
FLEET_VARS = {  # cast_pipeline.fleet.settings reads these itself, not through SETTINGS
    fleet.BROKER_ENV, fleet.BACKEND_ENV, fleet.VISIBILITY_ENV, fleet.LOST_AFTER_ENV, fleet.CONCURRENCY_ENV,
    fleet.NEW_AUDIO_QUEUE_ENV,
}  # fmt: skip


def _grpc_servers() -> list[tuple[str, GrpcServer]]:
    """Every `dagster api grpc` that deploy/ starts, with where it is defined."""
    servers = []
    compose = interpolate_all(load_yaml(COMPOSE_YAML), read_env_file(COMPOSE_ENV_EXAMPLE))
    for name, service in compose["services"].items():
        command = service.get("command", [])
        if "fleet" in service.get("profiles", []):
            continue  # the fleet's workspace (deploy/fleet/workspace.yaml): test_docker.py checks it against that
        if command[:3] == ["dagster", "api", "grpc"]:
            servers.append((f"compose service {name}", parse_grpc_command(command)))
    for unit_path in sorted(SYSTEMD.glob("*.service")):
        argv = shlex.split(parse_systemd_unit(unit_path).one("Service", "ExecStart"))
        if argv[1:3] == ["api", "grpc"]:
            servers.append((unit_path.name, parse_grpc_command(argv)))
    with LAUNCHD_PLIST.open("rb") as fh:
        servers.append((LAUNCHD_PLIST.name, parse_grpc_command(plistlib.load(fh)["ProgramArguments"])))
    return servers


def _workspace_locations() -> dict[str, dict[str, Any]]:
    return {
        entry["grpc_server"]["location_name"]: entry["grpc_server"] for entry in load_yaml(WORKSPACE_YAML)["load_from"]
    }


def test_location_names_agree_everywhere() -> None:
    workspace = _workspace_locations()
    assert set(workspace) == set(LOCATIONS)
    runs = load_yaml(DAGSTER_YAML)["concurrency"]["runs"]["tag_concurrency_limits"]
    capped = {item["value"] for item in runs if item["key"] == "dagster/code_location"}
    assert capped == set(workspace), "every workspace location has a run cap in deploy/dagster.yaml, and no other"
    served: dict[str, list[str]] = {}
    for where, server in _grpc_servers():
        assert server.location_name in workspace, f"{where}: unknown location {server.location_name!r}"
        assert server.module == LOCATIONS[server.location_name], f"{where}: serves {server.module}"
        assert server.port == workspace[server.location_name]["port"], f"{where}: port differs from the workspace"
        served.setdefault(server.location_name, []).append(where)
    assert set(served) == set(workspace), f"a location nothing starts: {set(workspace) - set(served)}"


def test_every_host_env_defines_what_the_instance_config_reads() -> None:
    needed = env_refs(load_yaml(DAGSTER_YAML)) | {"DAGSTER_HOME", "CAST_DATA_DIR"}
    server_env = read_env_file(ENV_EXAMPLE)
    assert needed <= set(server_env), f"deploy/env.example misses {sorted(needed - set(server_env))}"
    assert env_refs(load_yaml(WORKSPACE_YAML)) <= set(server_env)
    with LAUNCHD_PLIST.open("rb") as fh:
        mac_env = plistlib.load(fh)["EnvironmentVariables"]
    mac_needs = needed | {"CAST_FEEDS_FILE", "CAST_SPEECH_BACKEND", "CAST_SPEECH_MODEL"}
    assert mac_needs <= set(mac_env), f"the Mac's plist misses {sorted(mac_needs - set(mac_env))}"


def test_cast_variables_are_known_settings() -> None:
    """A misspelt CAST_* variable is silently ignored at run time; catch it here."""
    known = {setting.env for setting in SETTINGS.values()} | DEPLOY_ONLY_VARS | FLEET_VARS
    texts = {path: path.read_text(encoding="utf-8") for path in DEPLOY.rglob("*") if path.is_file()}
    for path, text in texts.items():
        if path.suffix == ".md":
            continue
        unknown = set(re.findall(r"\bCAST_[A-Z0-9_]*[A-Z0-9]\b", text)) - known
        assert not unknown, f"{path.relative_to(DEPLOY)}: unknown variables {sorted(unknown)}"
    assert read_env_file(ENV_EXAMPLE)["CAST_SPEECH_BACKEND"] in BACKENDS


def test_readme_documents_every_deploy_file() -> None:
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    for path in sorted(DEPLOY.rglob("*")):
        if path.is_file() and path.name != "README.md" and not path.name.endswith(".dockerignore"):
            assert path.relative_to(DEPLOY).as_posix() in readme, f"deploy/README.md does not mention {path.name}"
    for command in ("dagster instance concurrency set speech", "pip install 'cast-pipeline[gpu]'", "[mlx]"):
        assert command in readme
