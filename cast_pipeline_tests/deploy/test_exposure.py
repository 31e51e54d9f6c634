"""Nothing in deploy/ listens on every interface without a login (issue 12, criterion 4).

The rule, for every listener of every shipped config (systemd, launchd, compose, Redis, nginx, Caddy):
on a wildcard address (0.0.0.0, ::, no address) it must authenticate its clients; without
authentication it must be on loopback or a private address. Readers: cast_pipeline_tests/deploy/exposure.py.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from cast_pipeline_tests.deploy.deploykit import DEPLOY, load_yaml
from cast_pipeline_tests.deploy.exposure import (
    CADDYFILE,
    NGINX_CONF,
    REDIS_CONF,
    Listener,
    all_listeners,
    caddy_json,
    caddy_listeners,
    command_listeners,
    compose_listeners,
    is_private,
    nginx_listeners,
    redis_listeners,
    resolve,
)

# Files of deploy/ that start no listener themselves (instance, workspaces: clients; env files; images:
# a container's own network namespace, reachable only through compose's `ports:`).
NO_LISTENER = re.compile(r"(README\.md|.*\.ya?ml|(.*/)?env\.example|docker/Dockerfile.*)$")
SCANNED = re.compile(r".*\.(service|plist)$|docker/compose\.yaml$|fleet/redis\.conf$|proxy/(Caddyfile|nginx\.conf)$")


def _violations(listeners: list[tuple[Listener, dict[str, str]]]) -> list[str]:
    bad = []
    for listener, env in listeners:
        address = resolve(listener.address, env)
        shown = f"{listener.where}: {address or '*'}:{listener.port}"
        if Listener(listener.where, address, listener.port, listener.auth).wildcard:
            if listener.auth is None:
                bad.append(f"{shown} listens on every interface without authentication")
        elif listener.auth is None and not is_private(address):
            bad.append(f"{shown} is neither loopback nor private, and has no authentication")
    return bad


def test_every_deploy_file_is_scanned_or_starts_nothing() -> None:
    for path in sorted(DEPLOY.rglob("*")):
        if path.is_file() and not path.name.endswith(".dockerignore"):
            name = path.relative_to(DEPLOY).as_posix()
            assert SCANNED.match(name) or NO_LISTENER.match(name), f"{name}: a new kind of config; scan it here"


def test_no_listener_on_every_interface_without_authentication() -> None:
    found = [(listener, dict(env)) for listener, env in all_listeners()]
    assert len(found) >= 10, found  # the readers see the files at all
    assert not _violations(found), "\n".join(_violations(found))


def test_the_unauthenticated_services_stay_off_the_network() -> None:
    """The UI and the gRPC servers have no login: loopback or the private address, named."""
    plain = {
        listener.where: resolve(listener.address, env) for listener, env in all_listeners() if listener.auth is None
    }
    assert plain["cast-dagster-webserver.service"] == "127.0.0.1", "the UI only through the proxy"
    assert plain["cast-core.service"] == plain["cast-fleet.service"] == "127.0.0.1"
    assert plain["compose service webserver"] == "127.0.0.1"
    for where in ("cast-transcribe-gpu.service", "org.castpipeline.transcribe-mac.plist"):
        assert is_private(plain[where]) and not plain[where].startswith("127."), f"{where}: the private address"


def test_no_literal_wildcard_address_outside_containers() -> None:
    """A plain text net for formats the readers might miss: 0.0.0.0 in a setting line anywhere."""
    for path in sorted(DEPLOY.rglob("*")):
        name = path.relative_to(DEPLOY).as_posix()
        if not path.is_file() or name.endswith(".md") or name.startswith("docker/"):
            continue  # inside a container 0.0.0.0 is the container's own interface (compose: ports:)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            setting = re.sub(r"(^|\s)#.*$|<!--.*?-->", "", line)
            assert "0.0.0.0" not in setting, f"{name}:{number}: {line.strip()}"


def test_redis_has_a_password_and_refuses_outsiders() -> None:
    (listener, *others) = redis_listeners()
    assert listener.auth == "requirepass"
    assert all(not listener.wildcard and is_private(listener.address) for listener in [listener, *others])


def test_compose_postgres_login_is_real() -> None:
    """The one published port with a login of its own: the password is required, never `trust`."""
    service = load_yaml(DEPLOY / "docker" / "compose.yaml")["services"]["postgres"]
    assert ":?" in service["environment"]["POSTGRES_PASSWORD"]
    assert "POSTGRES_HOST_AUTH_METHOD" not in service["environment"]
    assert {listener.where for listener in compose_listeners() if listener.auth} == {
        "compose service postgres",
        "compose service redis",  # its login: test_docker.py runs the service's own command line
    }


def test_proxies_authenticate_every_proxied_request() -> None:
    assert nginx_listeners() and all(listener.auth == "auth_basic" for listener in nginx_listeners())
    config = caddy_json()
    if config is None:
        if os.environ.get("CI") == "true":
            pytest.fail("caddy is installed by .ci/run")
        pytest.skip("caddy not installed (apt-get install caddy)")
    listeners = caddy_listeners(config)
    assert [listener for listener in listeners if listener.port == "443"], listeners
    assert all(listener.auth == "basicauth" or is_private(listener.address) for listener in listeners)


# --- the rule can fail: each reader catches the mistake it exists for -----------------------------------


def test_scanner_catches_exposed_commands() -> None:
    grpc = ["/v/bin/dagster", "api", "grpc", "-m", "x", "-h", "0.0.0.0", "-p", "4001"]
    assert _violations([(listener, {}) for listener in command_listeners(grpc, "unit")])
    web = ["/v/bin/dagster-webserver", "-h", "0.0.0.0", "-p", "3000"]
    assert _violations([(listener, {}) for listener in command_listeners(web, "unit")])
    public = ["/v/bin/dagster", "api", "grpc", "-m", "x", "-h", "${ADDR}", "-p", "4001"]
    assert _violations([(listener, {"ADDR": "8.8.8.8"}) for listener in command_listeners(public, "unit")])
    serve = ["cast-pipeline", "serve", "--host", "0.0.0.0"]
    assert not _violations([(listener, {}) for listener in command_listeners(serve, "unit")]), "token"
    with pytest.raises(AssertionError, match="unknown program"):
        command_listeners(["/usr/bin/socat", "TCP-LISTEN:80"], "unit")


def test_scanner_catches_exposed_files(tmp_path: Path) -> None:
    redis = tmp_path / "redis.conf"
    redis.write_text(re.sub(r"(?m)^requirepass .*$", "", REDIS_CONF.read_text()).replace("bind 10.0.0.1", "bind *"))
    assert _violations([(listener, {}) for listener in redis_listeners(redis)])
    nginx = tmp_path / "nginx.conf"
    nginx.write_text(NGINX_CONF.read_text().replace("auth_basic ", "# auth_basic "))
    assert _violations([(listener, {}) for listener in nginx_listeners(nginx)])
    compose = tmp_path / "compose.yaml"
    compose.write_text((DEPLOY / "docker" / "compose.yaml").read_text().replace(":-127.0.0.1:3000}", ":-3000}"))
    assert _violations([(listener, {}) for listener in compose_listeners(compose)])
    caddy = tmp_path / "Caddyfile"
    caddy.write_text(re.sub(r"basicauth \{[^}]*\}", "", CADDYFILE.read_text()))
    config = caddy_json(caddy)
    if config is not None:
        assert _violations([(listener, {}) for listener in caddy_listeners(config)])
