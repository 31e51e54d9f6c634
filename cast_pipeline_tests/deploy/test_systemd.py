"""deploy/systemd: unit files parsed by systemd's syntax rules, commands by Dagster's CLI parser."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from cast_pipeline.speech.backends import BACKENDS
from cast_pipeline_tests.deploy.deploykit import (
    ENV_EXAMPLE,
    GRPC_PORTS,
    LOCATIONS,
    SYSTEMD,
    SystemdUnit,
    parse_grpc_command,
    parse_systemd_unit,
    read_env_file,
)

# unit file -> the code location it serves (None: webserver / daemon).
UNITS: dict[str, str | None] = {
    "cast-core.service": "core",
    "cast-transcribe-gpu.service": "transcribe_gpu",
    "cast-dagster-webserver.service": None,
    "cast-dagster-daemon.service": None,
}
ENV_FILE = "/etc/cast-pipeline/env"
# Where each gRPC unit listens: core only for the webserver and daemon on its own host; the GPU box on
# its private address from the env file (systemd expands ${VAR} in ExecStart=). Never 0.0.0.0.
GRPC_HOSTS = {"core": "127.0.0.1", "transcribe_gpu": "${CAST_BIND_ADDRESS}"}


def _unit(name: str) -> SystemdUnit:
    return parse_systemd_unit(SYSTEMD / name)


def test_every_unit_file_is_listed() -> None:
    assert {p.name for p in SYSTEMD.glob("*.service")} == set(UNITS)


@pytest.mark.parametrize("name", sorted(UNITS))
def test_unit_structure(name: str) -> None:
    unit = _unit(name)
    assert set(unit.sections) == {"Unit", "Service", "Install"}
    assert unit.one("Unit", "Description")
    assert {"network-online.target", "remote-fs.target"} <= set(unit.words("Unit", "After")), (
        "start after the network and the shared mount (CAST_DATA_DIR)"
    )
    assert "network-online.target" in unit.words("Unit", "Wants"), "After= alone does not pull the target in"
    assert unit.one("Service", "Type") == "simple"
    assert unit.one("Service", "User") not in {"", "root"}
    assert Path(unit.one("Service", "WorkingDirectory")).is_absolute()
    assert unit.one("Service", "EnvironmentFile") == ENV_FILE
    assert unit.one("Service", "Restart") == "on-failure"
    assert unit.one("Install", "WantedBy") == "multi-user.target"
    argv = shlex.split(unit.one("Service", "ExecStart"))
    assert Path(argv[0]).is_absolute(), "systemd needs an absolute ExecStart path"


@pytest.mark.parametrize(("name", "location"), [(n, loc) for n, loc in sorted(UNITS.items()) if loc])
def test_grpc_units_serve_their_location(name: str, location: str) -> None:
    server = parse_grpc_command(shlex.split(_unit(name).one("Service", "ExecStart")))
    assert (server.module, server.location_name) == (LOCATIONS[location], location)
    assert (server.host, server.port) == (GRPC_HOSTS[location], GRPC_PORTS[location])
    if server.host.startswith("${"):
        assert server.host[2:-1] in read_env_file(ENV_EXAMPLE), f"{name}: deploy/env.example must set {server.host}"


@pytest.mark.parametrize("name", sorted(UNITS))
def test_env_file_defines_what_the_command_line_uses(name: str) -> None:
    """systemd expands ${VAR} in ExecStart= from EnvironmentFile=; unset, it passes an empty word."""
    used = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", _unit(name).one("Service", "ExecStart")))
    assert used <= set(read_env_file(ENV_EXAMPLE)), f"{name}: deploy/env.example misses {sorted(used)}"


def test_webserver_listens_on_loopback_behind_the_proxy() -> None:
    argv = shlex.split(_unit("cast-dagster-webserver.service").one("Service", "ExecStart"))
    assert argv[argv.index("-h") + 1] == "127.0.0.1", "the UI has no login: only the proxy of deploy/proxy/ reaches it"


@pytest.mark.parametrize("name", ["cast-dagster-webserver.service", "cast-dagster-daemon.service"])
def test_server_units_load_the_deploy_workspace(name: str) -> None:
    argv = shlex.split(_unit(name).one("Service", "ExecStart"))
    assert Path(argv[0]).name in {"dagster-webserver", "dagster-daemon"}
    assert argv[argv.index("-w") + 1] == "${DAGSTER_HOME}/workspace.yaml"


def test_gpu_unit_speech_defaults_are_valid() -> None:
    unit = _unit("cast-transcribe-gpu.service")
    env = dict(item.split("=", 1) for line in unit.get("Service", "Environment") for item in shlex.split(line))
    assert env["CAST_SPEECH_BACKEND"] in BACKENDS
    assert env["CAST_SPEECH_DEVICE"] == "cuda"
    # EnvironmentFile= after Environment= so the host's env file wins over these defaults.
    lines = (SYSTEMD / "cast-transcribe-gpu.service").read_text().splitlines()
    assert lines.index(f"EnvironmentFile={ENV_FILE}") > next(
        i for i, s in enumerate(lines) if s.startswith("Environment=")
    )


def test_parser_rejects_malformed_units(tmp_path: Path) -> None:
    bad = tmp_path / "bad.service"
    bad.write_text("[Unit]\nDescription=x\nnot a setting\n")
    with pytest.raises(ValueError, match="not a Key=value line"):
        parse_systemd_unit(bad)
    bad.write_text("Description=outside\n[Unit]\n")
    with pytest.raises(ValueError, match="inside a section"):
        parse_systemd_unit(bad)


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd's own checker where installed: unknown keys and bad values are errors here."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze not installed (the structural checks above still run)")
    problems = []
    for name in UNITS:
        shutil.copy(SYSTEMD / name, tmp_path / name)
        result = subprocess.run(
            [tool, "verify", "--man=no", str(tmp_path / name)], capture_output=True, text=True, timeout=60
        )
        # The venv and the `cast` user exist only on a real host; everything else must be clean.
        problems += [
            line
            for line in (result.stdout + result.stderr).splitlines()
            if line.strip() and "is not executable: No such file or directory" not in line
        ]
    assert not problems, "\n".join(problems)
