"""deploy/launchd: the Mac's LaunchAgent, read with plistlib as launchd reads the XML."""

from __future__ import annotations

import ipaddress
import plistlib
from pathlib import Path, PurePosixPath
from typing import Any

from cast_pipeline.speech.backends import BACKENDS
from cast_pipeline_tests.deploy.deploykit import (
    DAGSTER_YAML,
    GRPC_PORTS,
    LAUNCHD_PLIST,
    LOCATIONS,
    env_refs,
    load_yaml,
    parse_grpc_command,
)


def _plist() -> dict[str, Any]:
    with LAUNCHD_PLIST.open("rb") as fh:
        return plistlib.load(fh)


def test_plist_is_a_keepalive_agent_with_logs() -> None:
    plist = _plist()
    assert plist["Label"] == LAUNCHD_PLIST.stem, "launchctl finds the job by the file's label"
    assert plist["RunAtLoad"] is True and plist["KeepAlive"] is True
    for key in ("WorkingDirectory", "StandardOutPath", "StandardErrorPath"):
        assert PurePosixPath(plist[key]).is_absolute(), f"{key} must be absolute for launchd"
    assert plist["StandardOutPath"] != plist["StandardErrorPath"]


def test_program_serves_the_mac_location_with_mlx() -> None:
    plist = _plist()
    argv = plist["ProgramArguments"]
    assert PurePosixPath(argv[0]).is_absolute(), "launchd does not search PATH for the program"
    server = parse_grpc_command(argv)
    assert (server.module, server.location_name) == (LOCATIONS["transcribe_mac"], "transcribe_mac")
    assert server.port == GRPC_PORTS["transcribe_mac"]
    assert ipaddress.ip_address(server.host).is_private and not ipaddress.ip_address(server.host).is_loopback, (
        "the Mac's private address: reachable by the server, not by every network the Mac joins"
    )
    env = plist["EnvironmentVariables"]
    assert env["CAST_SPEECH_BACKEND"] == "mlx-whisper" and env["CAST_SPEECH_BACKEND"] in BACKENDS
    assert str(PurePosixPath(argv[0]).parent) in env["PATH"].split(":")


def test_environment_opens_the_instance_on_shared_storage() -> None:
    env = _plist()["EnvironmentVariables"]
    assert all(isinstance(value, str) for value in env.values()), "launchd passes strings only"
    missing = (env_refs(load_yaml(DAGSTER_YAML)) | {"DAGSTER_HOME", "CAST_DATA_DIR"}) - set(env)
    assert not missing, f"runs on the Mac open the instance from deploy/dagster.yaml: add {sorted(missing)}"
    shared = Path(env["CAST_DATA_DIR"])
    for var in ("DAGSTER_COMPUTE_LOG_DIR", "DAGSTER_ARTIFACT_DIR", "CAST_FEEDS_FILE"):
        assert Path(env[var]).is_relative_to(shared), f"{var} must be on the shared volume"
