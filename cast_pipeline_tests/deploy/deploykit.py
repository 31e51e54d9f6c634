"""Readers shared by the deploy tests: the production files parsed the way their real consumers do.

Why here and not in the package: nothing at run time reads these files except Dagster, Docker,
systemd and launchd themselves; the tests only need to read them the same way to catch mistakes
before a deployment does.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import yaml

from cast_pipeline_tests.conftest import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
DAGSTER_YAML = DEPLOY / "dagster.yaml"
WORKSPACE_YAML = DEPLOY / "workspace.yaml"
ENV_EXAMPLE = DEPLOY / "env.example"
DOCKER = DEPLOY / "docker"
COMPOSE_YAML = DOCKER / "compose.yaml"
COMPOSE_ENV_EXAMPLE = DOCKER / "env.example"
SYSTEMD = DEPLOY / "systemd"
LAUNCHD_PLIST = DEPLOY / "launchd" / "org.castpipeline.transcribe-mac.plist"

# The planned topology: code location name -> the module its `dagster api grpc -m` serves.
LOCATIONS: dict[str, str] = {
    "core": "cast_pipeline.locations.core",
    "transcribe_gpu": "cast_pipeline.locations.gpu",
    "transcribe_mac": "cast_pipeline.locations.mac",
}
# Each location's gRPC port (deploy/workspace.yaml): distinct, so any two locations can share a host.
GRPC_PORTS: dict[str, int] = {"core": 4000, "transcribe_gpu": 4001, "transcribe_mac": 4002}
# Three loopback addresses stand in for the server, the GPU box and the Mac in the end-to-end tests.
LOOPBACK = {"core": "127.0.0.1", "transcribe_gpu": "127.0.0.2", "transcribe_mac": "127.0.0.3"}
HOST_VARS = {"core": "CAST_CORE_HOST", "transcribe_gpu": "CAST_GPU_HOST", "transcribe_mac": "CAST_MAC_HOST"}


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def env_refs(config: Any) -> set[str]:
    """Names of every ``{env: NAME}`` value in a Dagster config (what each host must define)."""
    found: set[str] = set()
    if isinstance(config, Mapping):
        if set(config) == {"env"} and isinstance(config["env"], str):
            return {config["env"]}
        for value in config.values():
            found |= env_refs(value)
    elif isinstance(config, list):
        for value in config:
            found |= env_refs(value)
    return found


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines as systemd's EnvironmentFile and compose's .env read them (no quoting used)."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Z_][A-Z0-9_]*", key):
            raise ValueError(f"{path}:{number}: not a KEY=value line: {raw!r}")
        if key in values:
            raise ValueError(f"{path}:{number}: {key} set twice")
        values[key] = value
    return values


DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@contextmanager
def throwaway_database(prefix: str) -> Iterator[dict[str, str]]:
    """DAGSTER_PG_* (and CAST_TEST_DATABASE_URL) of a fresh database ``<prefix>_<random>``, dropped afterwards.

    Raises psycopg2.OperationalError when CAST_TEST_POSTGRES_URL cannot be reached: the caller decides
    whether that is a skip (a test outside CI) or an error (CI, a benchmark).
    """
    import psycopg2

    url = os.environ.get("CAST_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    parts = urlsplit(url)
    admin = psycopg2.connect(url, connect_timeout=5)
    admin.autocommit = True
    name = f"{prefix}_{secrets.token_hex(6)}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {
            "DAGSTER_PG_HOST": parts.hostname or "127.0.0.1",
            "DAGSTER_PG_PORT": str(parts.port or 5432),
            "DAGSTER_PG_USER": unquote(parts.username or "postgres"),
            "DAGSTER_PG_PASSWORD": unquote(parts.password or ""),
            "DAGSTER_PG_DB": name,
            "CAST_TEST_DATABASE_URL": urlunsplit(parts._replace(path=f"/{name}")),
        }
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@dataclass(frozen=True)
class GrpcServer:
    """What a `dagster api grpc` command line serves, as Dagster's own CLI parses it."""

    module: str
    host: str
    port: int
    location_name: str | None


def parse_grpc_command(argv: Sequence[str]) -> GrpcServer:
    """Parse ``[.../]dagster api grpc ARGS`` with Dagster's click command, so unknown options fail."""
    from dagster._cli.api import grpc_command

    argv = list(argv)
    if len(argv) < 3 or Path(argv[0]).name != "dagster" or argv[1:3] != ["api", "grpc"]:
        raise ValueError(f"not a `dagster api grpc` command: {argv}")
    ctx = grpc_command.make_context("grpc", argv[3:])
    params = ctx.params
    return GrpcServer(
        module=params["module_name"][0] if isinstance(params["module_name"], tuple) else params["module_name"],
        host=params["host"],
        port=params["port"],
        location_name=params["location_name"],
    )


_INTERPOLATION = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` and ``$$`` substitution."""

    def replace(match: re.Match[str]) -> str:
        escaped, name, op, arg, bare = match.groups()
        if escaped:
            return "$"
        name = name or bare
        current = env.get(name)
        if op in (":-", "-"):
            unset = current is None or (op == ":-" and current == "")
            return arg if unset else str(current)
        if op in (":?", "?"):
            unset = current is None or (op == ":?" and current == "")
            if unset:
                raise KeyError(f"${{{name}}} is required: {arg}")
            return str(current)
        return "" if current is None else str(current)

    return _INTERPOLATION.sub(replace, value)


def interpolate_all(config: Any, env: Mapping[str, str]) -> Any:
    if isinstance(config, str):
        return interpolate(config, env)
    if isinstance(config, Mapping):
        return {key: interpolate_all(value, env) for key, value in config.items()}
    if isinstance(config, list):
        return [interpolate_all(value, env) for value in config]
    return config


def compose_variables(config: Any) -> Iterator[tuple[str, str | None, str | None]]:
    """Every ``${VAR...}`` in the values of a loaded compose file: (name, operator, argument)."""
    if isinstance(config, str):
        for match in _INTERPOLATION.finditer(config):
            escaped, name, op, arg, bare = match.groups()
            if not escaped:
                yield (name or bare), op, arg
    elif isinstance(config, Mapping):
        for value in config.values():
            yield from compose_variables(value)
    elif isinstance(config, list):
        for value in config:
            yield from compose_variables(value)


@dataclass
class SystemdUnit:
    path: Path
    sections: dict[str, dict[str, list[str]]]

    def get(self, section: str, key: str) -> list[str]:
        return self.sections.get(section, {}).get(key, [])

    def one(self, section: str, key: str) -> str:
        values = self.get(section, key)
        if len(values) != 1:
            raise AssertionError(f"{self.path.name}: [{section}] {key}= set {len(values)} times, want once")
        return values[0]

    def words(self, section: str, key: str) -> list[str]:
        """Space-separated list settings (After=, Wants=) merged over repeated lines."""
        return [word for value in self.get(section, key) for word in value.split()]


def parse_systemd_unit(path: Path) -> SystemdUnit:
    """A unit file by systemd.syntax(7): sections, repeatable Key=value lines, backslash continuations."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    pending = ""
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = (pending + " " + raw.strip()) if pending else raw.strip()
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.endswith("\\"):
            pending = line[:-1].rstrip()
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise ValueError(f"{path}:{number}: bad section header {raw!r}")
            name = line[1:-1]
            if name in sections:
                raise ValueError(f"{path}:{number}: section [{name}] twice")
            current = sections.setdefault(name, {})
            continue
        key, sep, value = line.partition("=")
        if not sep or current is None or not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", key.strip()):
            raise ValueError(f"{path}:{number}: not a Key=value line inside a section: {raw!r}")
        current.setdefault(key.strip(), []).append(value.strip())
    if pending:
        raise ValueError(f"{path}: file ends inside a continued line")
    return SystemdUnit(path, sections)


def _wait_for_port(host: str, port: int, proc: subprocess.Popen[bytes], log: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gRPC server for {host} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"gRPC server on {host}:{port} not listening in time:\n{log.read_text()[-3000:]}")


@contextmanager
def running_grpc_servers(
    commands: Mapping[str, Sequence[str]], workdir: Path, env: Mapping[str, Mapping[str, str]] | None = None
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """Start `dagster api grpc` per location as deploy/ writes it, on LOOPBACK[location]:GRPC_PORTS[location].

    The program path is swapped for this venv's dagster and `-h 0.0.0.0` for the location's loopback
    address; everything else is the deploy file's command line. Stopped with SIGINT, then killed.
    """
    for location in commands:
        with socket.socket() as probe:
            if probe.connect_ex((LOOPBACK[location], GRPC_PORTS[location])) == 0:
                raise AssertionError(f"{LOOPBACK[location]}:{GRPC_PORTS[location]} is in use; needed for {location}")
    dagster_bin = str(Path(sys.executable).parent / "dagster")
    procs: dict[str, subprocess.Popen[bytes]] = {}
    logs: dict[str, Path] = {}
    try:
        for location, command in commands.items():
            argv = [dagster_bin, *command[1:]]
            argv[argv.index("-h") + 1] = LOOPBACK[location]
            logs[location] = workdir / f"grpc-{location}.log"
            extra = dict((env or {}).get(location, {}))
            with logs[location].open("wb") as out:
                procs[location] = subprocess.Popen(
                    argv, stdout=out, stderr=subprocess.STDOUT, cwd=workdir, env={**os.environ, **extra}
                )
        deadline = time.monotonic() + 120
        for location, proc in procs.items():
            _wait_for_port(LOOPBACK[location], GRPC_PORTS[location], proc, logs[location], deadline)
        yield procs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def deploy_grpc_commands() -> dict[str, list[str]]:
    """The grpc command line of each location, from the systemd units and the launchd plist."""
    import plistlib
    import shlex

    units = {"core": "cast-core.service", "transcribe_gpu": "cast-transcribe-gpu.service"}
    commands = {
        location: shlex.split(parse_systemd_unit(SYSTEMD / unit).one("Service", "ExecStart"))
        for location, unit in units.items()
    }
    with LAUNCHD_PLIST.open("rb") as fh:
        commands["transcribe_mac"] = list(plistlib.load(fh)["ProgramArguments"])
    return commands
