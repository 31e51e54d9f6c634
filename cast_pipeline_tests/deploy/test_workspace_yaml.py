"""deploy/workspace.yaml: three gRPC code locations, loaded by Dagster's own workspace loader.

The slow test starts the three `dagster api grpc` servers exactly as deploy/ starts them (systemd,
launchd), on 127.0.0.1-3 (ports 4000-4002) standing in for the three hosts, and loads the workspace from them.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.workspace.load import location_origins_from_yaml_paths

from cast_pipeline_tests.deploy.deploykit import (
    GRPC_PORTS,
    HOST_VARS,
    LOCATIONS,
    LOOPBACK,
    WORKSPACE_YAML,
    deploy_grpc_commands,
    env_refs,
    load_yaml,
    running_grpc_servers,
)


def _origins(monkeypatch: pytest.MonkeyPatch, hosts: dict[str, str]) -> list[Any]:
    for location, var in HOST_VARS.items():
        monkeypatch.setenv(var, hosts[location])
    return location_origins_from_yaml_paths([str(WORKSPACE_YAML)])


def test_workspace_lists_the_three_grpc_locations(monkeypatch: pytest.MonkeyPatch) -> None:
    hosts = {"core": "core", "transcribe_gpu": "gpu-box.local", "transcribe_mac": "mac-studio.local"}
    origins = _origins(monkeypatch, hosts)
    assert [o.location_name for o in origins] == list(LOCATIONS)
    for origin in origins:
        assert type(origin).__name__ == "GrpcServerCodeLocationOrigin"
        assert (origin.host, origin.port) == (hosts[origin.location_name], GRPC_PORTS[origin.location_name])
    assert env_refs(load_yaml(WORKSPACE_YAML)) == set(HOST_VARS.values())
    assert len({origin.port for origin in origins}) == len(origins), "distinct ports: locations can share a host"


def test_unset_host_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in HOST_VARS.values():
        monkeypatch.setenv(var, "somewhere")
    monkeypatch.delenv("CAST_MAC_HOST")
    with pytest.raises(Exception, match="CAST_MAC_HOST"):
        location_origins_from_yaml_paths([str(WORKSPACE_YAML)])


def _require_locations() -> None:
    if importlib.util.find_spec("cast_pipeline.locations") is None:
        message = "cast_pipeline.locations (the per-location modules deploy/ serves) does not exist"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def _definitions(module_name: str) -> dg.Definitions:
    module = importlib.import_module(module_name)
    found = [value for value in vars(module).values() if isinstance(value, dg.Definitions)]
    assert len(found) == 1, f"{module_name}: `dagster api grpc -m` needs exactly one Definitions, found {len(found)}"
    return found[0]


@pytest.mark.parametrize("location", list(LOCATIONS))
def test_location_module_imports_here(location: str) -> None:
    """Every location module must import on any host (models load at run time, not import time)."""
    _require_locations()
    defs = _definitions(LOCATIONS[location])
    assert defs.resolve_asset_graph().get_all_asset_keys() or defs.sensors, f"{location} defines nothing"


def test_each_asset_is_materialised_in_one_location_only() -> None:
    """Dagster's rule for multi-location workspaces; the speech assets use the configured pool."""
    _require_locations()
    owners: dict[dg.AssetKey, str] = {}
    pools: dict[str, set[str]] = {}
    for location, module in LOCATIONS.items():
        graph = _definitions(module).resolve_asset_graph()
        pools[location] = set()
        for key in graph.materializable_asset_keys:
            assert key not in owners, f"{key.to_user_string()} materialised in {owners[key]} and {location}"
            owners[key] = location
            pool = graph.get(key).pools
            pools[location] |= set(pool or ())
    for location in ("transcribe_gpu", "transcribe_mac"):
        assert "speech" in pools[location], f"{location}: speech assets use pool='speech' (deploy/dagster.yaml)"


# --- the three servers, started as deploy/ starts them ----------------------------------------------


@pytest.fixture
def grpc_servers(tmp_path: Path) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    _require_locations()
    with running_grpc_servers(deploy_grpc_commands(), tmp_path) as procs:
        yield procs


@pytest.mark.slow
def test_workspace_loads_every_location_from_its_server(
    grpc_servers: dict[str, subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget

    for location, var in HOST_VARS.items():
        monkeypatch.setenv(var, LOOPBACK[location])
    target = WorkspaceFileTarget(paths=[str(WORKSPACE_YAML)])
    with (
        dg.instance_for_test() as instance,
        WorkspaceProcessContext(instance, target) as context,
    ):
        entries = context.create_request_context().get_code_location_entries()
        assert set(entries) == set(LOCATIONS)
        for name, entry in entries.items():
            assert entry.load_error is None, f"{name}: {entry.load_error}"
            assert entry.code_location is not None
            origin = entry.code_location.origin
            assert (origin.host, origin.port) == (LOOPBACK[name], GRPC_PORTS[name])
            assert entry.code_location.get_repositories(), f"{name}: server serves no definitions"
