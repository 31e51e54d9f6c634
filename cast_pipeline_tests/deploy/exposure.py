"""Who listens where in deploy/: every network listener the shipped configs start, and what guards it.

Why a reader per format: "no service on 0.0.0.0 without auth" is only checkable if each config is read
the way its program reads it (a systemd ExecStart= argv, compose `ports:`, Redis `bind`, nginx
`listen`, a Caddy site address). Each reader returns :class:`Listener` rows; the tests then apply one
rule to all of them. A command or format the readers do not know is an error, not a silent pass.
"""

from __future__ import annotations

import ipaddress
import json
import plistlib
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cast_pipeline_tests.deploy.deploykit import (
    COMPOSE_ENV_EXAMPLE,
    COMPOSE_YAML,
    DEPLOY,
    interpolate_all,
    load_yaml,
    parse_grpc_command,
    parse_systemd_unit,
    read_env_file,
)

FLEET = DEPLOY / "fleet"
PROXY = DEPLOY / "proxy"
REDIS_CONF = FLEET / "redis.conf"
CADDYFILE = PROXY / "Caddyfile"
NGINX_CONF = PROXY / "nginx.conf"
WILDCARDS = {"", "*", "0.0.0.0", "::", "[::]"}
# Compose services whose published port has its own login (checked in test_exposure).
COMPOSE_AUTH = {
    "postgres": "PostgreSQL password (POSTGRES_PASSWORD, required by compose)",
    "redis": "Redis password (requirepass from CAST_REDIS_PASSWORD; the service refuses to start without one)",
}
SERVE_AUTH = "CAST_API_TOKEN (cast-pipeline serve refuses any other host without it)"


@dataclass(frozen=True)
class Listener:
    where: str  # file (and service/block) that starts it
    address: str  # as configured: an IP, a wildcard, or ${VAR}
    port: int | str
    auth: str | None  # what authenticates clients, None: nothing

    @property
    def wildcard(self) -> bool:
        return self.address.strip("[]") in WILDCARDS or self.address in WILDCARDS


def resolve(address: str, env: Mapping[str, str]) -> str:
    """``${VAR}`` (systemd, compose) resolved from the deployment's env file; anything else as is."""
    match = re.fullmatch(r"\$\{([A-Z_][A-Z0-9_]*)\}", address)
    if not match:
        return address
    if match.group(1) not in env:
        raise AssertionError(f"{address}: not set in the env file that goes with it")
    return env[match.group(1)]


def is_private(address: str) -> bool:
    """Loopback or a private-network address: not reachable from the internet."""
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address == "localhost"
    return ip.is_private or ip.is_loopback


def _option(argv: Sequence[str], names: Sequence[str], default: str) -> str:
    for i, arg in enumerate(argv):
        if arg in names:
            return argv[i + 1]
        for name in names:
            if name.startswith("--") and arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return default


def command_listeners(argv: Sequence[str], where: str) -> list[Listener]:
    """What a command line of deploy/ listens on (defaults are each program's own)."""
    program = Path(argv[0]).name
    if program == "dagster" and list(argv[1:3]) == ["api", "grpc"]:
        server = parse_grpc_command(argv)
        return [Listener(where, server.host, server.port, None)]  # Dagster's gRPC API has no login
    if program == "dagster-webserver":
        host, port = _option(argv, ["-h", "--host"], "127.0.0.1"), _option(argv, ["-p", "--port"], "3000")
        return [Listener(where, host, port, None)]  # the UI has no login
    if program == "cast-pipeline" and argv[1:2] == ["serve"]:
        host, port = _option(argv, ["--host"], "127.0.0.1"), _option(argv, ["-p", "--port"], "8765")
        return [Listener(where, host, port, SERVE_AUTH)]
    if program == "dagster-daemon" or (program == "cast-pipeline" and argv[1:2] == ["worker"]):
        return []  # connect out only (PostgreSQL, Redis, the code locations)
    raise AssertionError(f"{where}: unknown program {argv[0]!r}: teach deploy/exposure.py what it listens on")


def systemd_listeners(path: Path) -> list[Listener]:
    unit = parse_systemd_unit(path)
    return [
        listener
        for line in unit.get("Service", "ExecStart")
        for listener in command_listeners(shlex.split(line.lstrip("-@+!:")), path.name)
    ]


def launchd_listeners(path: Path) -> list[Listener]:
    with path.open("rb") as fh:
        return command_listeners(plistlib.load(fh)["ProgramArguments"], path.name)


def compose_listeners(path: Path = COMPOSE_YAML, env_file: Path = COMPOSE_ENV_EXAMPLE) -> list[Listener]:
    """Published ports (the only way into a container from other machines), with compose's defaults."""
    compose = interpolate_all(load_yaml(path), read_env_file(env_file))
    found = []
    for name, service in compose["services"].items():
        for spec in service.get("ports", []):
            if not isinstance(spec, str):
                raise AssertionError(f"compose service {name}: long port syntax; teach deploy/exposure.py")
            parts = spec.rsplit(":", 2)
            address = parts[0] if len(parts) == 3 else ""
            found.append(Listener(f"compose service {name}", address, parts[-2], COMPOSE_AUTH.get(name)))
    return found


def redis_directives(path: Path) -> dict[str, list[list[str]]]:
    """Directive -> argument lists, as redis.conf is read (one directive a line, # comments)."""
    found: dict[str, list[list[str]]] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        words = shlex.split(raw, comments=True)
        if words:
            found.setdefault(words[0].lower(), []).append(words[1:])
    return found


def redis_listeners(path: Path = REDIS_CONF) -> list[Listener]:
    conf = redis_directives(path)
    binds = conf.get("bind", [[""]])[-1]  # no bind: every interface
    port = conf.get("port", [["6379"]])[-1][0]
    password = conf.get("requirepass", [[""]])[-1]
    auth = "requirepass" if password and password[0] else None
    return [Listener(path.name, address.lstrip("-"), port, auth) for address in binds]


# --- nginx --------------------------------------------------------------------------------------------


def parse_nginx(text: str) -> list[Any]:
    """nginx's block syntax: a list of (name, args, children-or-None) from directives and blocks."""
    tokens = re.findall(r"\"[^\"]*\"|'[^']*'|#[^\n]*|[{};]|[^\s{};]+", text)
    stack: list[list[Any]] = [[]]
    current: list[str] = []
    for token in tokens:
        if token.startswith("#"):
            continue
        if token == ";":
            stack[-1].append((current[0], current[1:], None))
            current = []
        elif token == "{":
            block: list[Any] = []
            stack[-1].append((current[0], current[1:], block))
            stack.append(block)
            current = []
        elif token == "}":
            if current or len(stack) == 1:
                raise ValueError(f"nginx: unexpected }} after {current}")
            stack.pop()
        else:
            current.append(token.strip("\"'"))
    if current or len(stack) != 1:
        raise ValueError("nginx: unterminated directive or block")
    return stack[0]


def _guarded(block: list[Any], inherited: bool) -> bool:
    """Every location that proxies is under an auth_basic other than `off`."""
    auth = inherited
    for name, args, _ in block:
        if name == "auth_basic":
            auth = args != ["off"]
    for name, _args, children in block:
        if name == "proxy_pass" and not auth:
            return False
        if children is not None and not _guarded(children, auth):
            return False
    return True


def nginx_listeners(path: Path = NGINX_CONF) -> list[Listener]:
    found = []
    for name, _, children in parse_nginx(path.read_text(encoding="utf-8")):
        if name != "server" or children is None:
            continue
        auth = "auth_basic" if _guarded(children, False) else None
        for directive, args, _ in children:
            if directive == "listen":
                address, _, port = args[0].rpartition(":")
                found.append(Listener(f"{path.name} server", address, port, auth))
    return found


# --- Caddy --------------------------------------------------------------------------------------------


def caddy_json(path: Path = CADDYFILE) -> dict[str, Any] | None:
    """The Caddyfile adapted to Caddy's JSON by the real caddy binary; None where it is not installed."""
    caddy = shutil.which("caddy")
    if caddy is None:
        return None
    result = subprocess.run(
        [caddy, "adapt", "--config", str(path), "--adapter", "caddyfile"], capture_output=True, text=True, timeout=30
    )
    if result.returncode != 0:
        raise AssertionError(f"caddy adapt {path.name}:\n{result.stderr}")
    return json.loads(result.stdout)


def _caddy_route_guarded(handlers: list[dict[str, Any]], auth: bool) -> bool:
    for handler in handlers:
        kind = handler["handler"]
        auth = auth or kind == "authentication"
        routes = handler.get("routes", []) if kind == "subroute" else []
        if (kind == "reverse_proxy" and not auth) or not all(
            _caddy_route_guarded(route.get("handle", []), auth) for route in routes
        ):
            return False
    return True


def caddy_listeners(config: dict[str, Any], where: str = "Caddyfile") -> list[Listener]:
    found = []
    for name, server in config.get("apps", {}).get("http", {}).get("servers", {}).items():
        guarded = all(_caddy_route_guarded(route.get("handle", []), False) for route in server.get("routes", []))
        for listen in server["listen"]:
            address, _, port = listen.rpartition(":")
            found.append(Listener(f"{where} {name}", address, port, "basicauth" if guarded else None))
    admin = config.get("admin", {})
    if not admin.get("disabled"):
        address, _, port = admin.get("listen", "localhost:2019").rpartition(":")
        found.append(Listener(f"{where} admin API", address, port, None))
    return found


def all_listeners() -> Iterator[tuple[Listener, Mapping[str, str]]]:
    """Every listener of deploy/, with the env file its ${VAR} addresses come from."""
    base_env, fleet_env = read_env_file(DEPLOY / "env.example"), read_env_file(FLEET / "env.example")
    for path in sorted(DEPLOY.rglob("*.service")):
        env = fleet_env if FLEET in path.parents else base_env
        for listener in systemd_listeners(path):
            yield listener, env
    for path in sorted(DEPLOY.rglob("*.plist")):
        for listener in launchd_listeners(path):
            yield listener, {}
    for listener in compose_listeners() + redis_listeners() + nginx_listeners():
        yield listener, {}
    config = caddy_json()
    if config is not None:
        for listener in caddy_listeners(config):
            yield listener, {}
