"""deploy/proxy: the reverse proxies in front of the Dagster UI, checked and run by the real binaries.

`caddy validate` and `nginx -t` accept the shipped files (with the certificate paths and the password
hash a user puts in); then each proxy really runs on 127.0.0.1 in front of a stand-in for the
webserver, and only a request with the password gets through. Caddy and nginx come from Debian
(.ci/run installs them); missing locally, these tests skip.
"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
import warnings
from base64 import b64encode
from collections.abc import Iterator
from pathlib import Path

import pytest

from cast_pipeline_tests.deploy.exposure import CADDYFILE, NGINX_CONF

PASSWORD = "correct horse battery staple"
PLACEHOLDER = "REPLACE-with-the-output-of-caddy-hash-password"
UPSTREAM = "127.0.0.1:3000"  # where both files expect the webserver


def _binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is installed by .ci/run")
        pytest.skip(f"{name} not installed (apt-get install {name})")
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def bcrypt_hash() -> str:
    """A bcrypt hash, as `caddy hash-password` or `htpasswd -B` make it, at the lowest cost (fast checks).

    The C library's crypt() where Python still has it (3.11, 3.12); else Caddy's own command (cost 14,
    seconds per check under load)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt

        hashed = crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))
    except ImportError:
        result = subprocess.run(
            [_binary("caddy"), "hash-password", "--plaintext", PASSWORD], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        hashed = result.stdout.strip()
    assert re.fullmatch(r"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}", hashed), hashed
    return hashed


@pytest.fixture
def webserver() -> Iterator[int]:
    """Stands in for dagster-webserver: answers every GET with 200 and a marker."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"dagster ui")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _get(url: str, password: str | None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if password is not None:
        request.add_header("Authorization", "Basic " + b64encode(f"admin:{password}".encode()).decode())
    context = ssl._create_unverified_context()  # the test's own self-signed certificate
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


def _wait_until_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"proxy exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"proxy not listening on {port}:\n{log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _assert_only_the_password_gets_through(url: str) -> None:
    assert _get(url, None)[0] == 401
    assert _get(url, "wrong")[0] == 401
    assert _get(url, PASSWORD) == (200, b"dagster ui")


# --- Caddy --------------------------------------------------------------------------------------------


def _caddy(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    return subprocess.run([_binary("caddy"), *args], capture_output=True, text=True, timeout=60, env=env)


def test_caddy_validates_the_file_with_a_real_hash(tmp_path: Path, bcrypt_hash: str) -> None:
    config = tmp_path / "Caddyfile"
    config.write_text(CADDYFILE.read_text().replace(PLACEHOLDER, bcrypt_hash))
    result = _caddy(["validate", "--config", str(config), "--adapter", "caddyfile"], tmp_path)
    assert result.returncode == 0 and "Valid configuration" in result.stdout + result.stderr, result.stderr


def test_caddy_refuses_the_file_until_the_placeholder_is_replaced(tmp_path: Path) -> None:
    assert PLACEHOLDER in CADDYFILE.read_text()
    result = _caddy(["validate", "--config", str(CADDYFILE), "--adapter", "caddyfile"], tmp_path)
    assert result.returncode != 0 and "base64-decoding password" in result.stderr, "fails closed: no UI without"


def test_caddy_lets_only_the_password_through(tmp_path: Path, bcrypt_hash: str, webserver: int) -> None:
    port = _free_port()
    text = CADDYFILE.read_text().replace(PLACEHOLDER, bcrypt_hash).replace(UPSTREAM, f"127.0.0.1:{webserver}")
    text = text.replace("\tskip_install_trust\n", "\tskip_install_trust\n\tadmin off\n")  # no :2019 in tests
    # The same site on plain HTTP on a test port: the auth and proxy lines are the shipped ones.
    text = re.sub(r"(?m)^cast-server\.local \{", f"http://127.0.0.1:{port} {{", text).replace("\ttls internal\n", "")
    config, log = tmp_path / "Caddyfile", tmp_path / "caddy.log"
    config.write_text(text)
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [_binary("caddy"), "run", "--config", str(config), "--adapter", "caddyfile"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        _wait_until_listening(port, proc, log)
        _assert_only_the_password_gets_through(f"http://127.0.0.1:{port}/")
    finally:
        _stop(proc)


# --- nginx --------------------------------------------------------------------------------------------


def _nginx_prefix(tmp_path: Path, port: int, upstream: int, htpasswd: str | None) -> Path:
    """The shipped site file in a minimal nginx.conf, with test paths, a test port and a test certificate."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "1", "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    passwords = tmp_path / "htpasswd"
    if htpasswd is not None:
        passwords.write_text(f"admin:{htpasswd}\n")
    site = NGINX_CONF.read_text()
    site = site.replace("/etc/cast-pipeline/tls/cast-server.crt", str(cert))
    site = site.replace("/etc/cast-pipeline/tls/cast-server.key", str(key))
    site = site.replace("/etc/nginx/cast-pipeline.htpasswd", str(passwords))
    site = site.replace("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;").replace("listen [::]:443 ssl;", "")
    site = site.replace(UPSTREAM, f"127.0.0.1:{upstream}")
    (tmp_path / "site.conf").write_text(site)
    temp = " ".join(f"{kind}_temp_path {tmp_path};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{ access_log off; {temp} include {tmp_path}/site.conf; }}\n"
    )
    return tmp_path


def test_nginx_accepts_the_site_file(tmp_path: Path) -> None:
    prefix = _nginx_prefix(tmp_path, _free_port(), 3000, None)
    result = subprocess.run(
        [_binary("nginx"), "-t", "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0 and "test is successful" in result.stderr, result.stderr


def test_nginx_lets_only_the_password_through(tmp_path: Path, bcrypt_hash: str, webserver: int) -> None:
    port = _free_port()
    prefix = _nginx_prefix(tmp_path, port, webserver, bcrypt_hash)
    log = prefix / "nginx.out"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [_binary("nginx"), "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
             "-g", "daemon off; master_process off;"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_until_listening(port, proc, log)
        _assert_only_the_password_gets_through(f"https://127.0.0.1:{port}/")
        (prefix / "htpasswd").unlink()  # a missing password file refuses, never lets through
        assert _get(f"https://127.0.0.1:{port}/", PASSWORD)[0] == 403
    finally:
        _stop(proc)
