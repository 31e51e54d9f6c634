"""deploy/fleet/redis.conf run by the real redis-server: a password, and queued work that outlives Redis.

The shipped file is used as is except where it must differ on a test machine (bind 127.0.0.1, a test
port, a temporary dir, log to stdout). Steps are sent to a queue the way the fleet sends them (Celery
over kombu's Redis transport); a worker that took one and was killed is a real process killed with
SIGKILL; Redis itself is killed with SIGKILL and started again on the same files.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import pytest

from cast_pipeline_tests.deploy.deploykit import parse_systemd_unit, read_env_file
from cast_pipeline_tests.deploy.exposure import FLEET, REDIS_CONF, redis_directives

celery = pytest.importorskip("celery")
redis = pytest.importorskip("redis")
kombu = pytest.importorskip("kombu")

PORTS = (6395, 6396, 6397)  # this session's Redis ports
QUEUE = "speech-cpu"
PASSWORD = redis_directives(REDIS_CONF)["requirepass"][-1][0]
# A worker that takes one step and dies with it unacknowledged (acks late: the step is still running).
TAKE_ONE_AND_HANG = """
import sys, time
from kombu import Connection
with Connection(sys.argv[1]) as conn:
    message = conn.SimpleQueue(sys.argv[2]).get(timeout=10)
    print(message.headers["id"], flush=True)
    time.sleep(60)
"""


def _redis_server() -> str:
    path = shutil.which("redis-server")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is needed under CI")
        pytest.skip("redis-server not installed")
    return path


def _test_config(tmp_path: Path, port: int, overrides: str = "", tls: Path | None = None) -> Path:
    text = REDIS_CONF.read_text(encoding="utf-8")
    for directive, value in [("bind", "127.0.0.1"), ("port", str(port)), ("dir", str(tmp_path)),
                             ("logfile", '""'), ("pidfile", str(tmp_path / "redis.pid"))]:  # fmt: skip
        text, count = re.subn(rf"(?m)^{directive} .*$", f"{directive} {value}", text)
        assert count == 1, f"redis.conf: expected one `{directive}` line"
    if tls is not None:  # the file's commented TLS lines, switched on, with the test's certificates
        for directive, value in [("port", "0"), ("tls-port", str(port)), ("tls-cert-file", tls / "redis.crt"),
                                 ("tls-key-file", tls / "redis.key"), ("tls-ca-cert-file", tls / "ca.crt"),
                                 ("tls-auth-clients", "no")]:  # fmt: skip
            text, count = re.subn(rf"(?m)^# {directive} .*$", f"{directive} {value}", text)
            assert count == 1, f"redis.conf: expected one commented `{directive}` line"
    config = tmp_path / "redis.conf"
    config.write_text(text + overrides)
    return config


@contextmanager
def _running(config: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """redis-server on ``config``, up and done loading its files; SIGKILLed at the end if still alive."""
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} is in use"
    log = config.with_suffix(".log")
    with log.open("ab") as out:
        proc = subprocess.Popen([_redis_server(), str(config)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while not _ready(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"redis-server did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _ready(port: int) -> bool:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) != 0:
            return False
    # redis-py's default retries back off for seconds; the loop above is the retry.
    client = redis.Redis(port=port, password=PASSWORD, socket_timeout=2, retry=None)
    try:
        return bool(client.ping()) and client.info("persistence")["loading"] == 0
    except redis.BusyLoadingError:
        return False
    finally:
        client.close()


def _url(port: int) -> str:
    return f"redis://:{PASSWORD}@127.0.0.1:{port}/0"


def test_clients_need_the_password(tmp_path: Path) -> None:
    port = PORTS[0]
    with _running(_test_config(tmp_path, port), port):
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port, retry=None).ping()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port, password="wrong", retry=None).ping()
        client = redis.Redis(port=port, password=PASSWORD, decode_responses=True)
        assert client.ping()
        live = {key: client.config_get(key)[key] for key in ("appendonly", "appendfsync", "protected-mode")}
        assert live == {"appendonly": "yes", "appendfsync": "everysec", "protected-mode": "yes"}
        assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"


def _send_steps(port: int, count: int) -> list[str]:
    app = celery.Celery("fleet-test", broker=_url(port))
    ids = [app.send_task("execute_plan", args=[n], queue=QUEUE).id for n in range(count)]
    app.close()
    return ids


@contextmanager
def _restarted_after_kills(tmp_path: Path, port: int, overrides: str = "") -> Iterator[redis.Redis]:
    """Queue 3 steps, one taken by a worker that is then killed; SIGKILL Redis, start it again."""
    config = _test_config(tmp_path, port, overrides)
    with _running(config, port) as server:
        sent = _send_steps(port, 3)
        worker = subprocess.Popen(
            [sys.executable, "-c", TAKE_ONE_AND_HANG, _url(port), QUEUE], stdout=subprocess.PIPE, text=True
        )
        taken = worker.stdout.readline().strip() if worker.stdout else ""
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        assert taken in sent
        client = redis.Redis(port=port, password=PASSWORD)
        assert (client.llen(QUEUE), client.hlen("unacked")) == (2, 1), "the killed worker's step waits unacked"
        server.send_signal(signal.SIGKILL)
        server.wait()
    with _running(config, port):
        yield redis.Redis(port=port, password=PASSWORD)


def test_queued_and_running_steps_survive_a_redis_kill(tmp_path: Path) -> None:
    port = PORTS[0]
    with _restarted_after_kills(tmp_path, port) as client:
        assert (client.llen(QUEUE), client.hlen("unacked")) == (2, 1)
        # A live worker hands the dead worker's step out again once the visibility timeout has passed
        # (kombu's restore_visible, which every consumer runs; the timeout shortened here to 1 s).
        with kombu.Connection(_url(port), transport_options={"visibility_timeout": 1}) as conn:
            time.sleep(1.1)
            conn.default_channel.qos.restore_visible(interval=1)
            queue = conn.SimpleQueue(QUEUE)
            ids = []
            for _ in range(3):
                message = queue.get(timeout=5)
                ids.append(message.headers["id"])
                message.ack()
            queue.close()
        assert len(set(ids)) == 3, "every step delivered, none twice"
        assert (client.llen(QUEUE), client.hlen("unacked")) == (0, 0)


def test_without_persistence_the_same_kill_loses_the_queue(tmp_path: Path) -> None:
    """The control: what `appendonly yes` prevents (Redis's RDB snapshots alone come minutes late)."""
    with _restarted_after_kills(tmp_path, PORTS[1], overrides="\nappendonly no\n") as client:
        assert (client.llen(QUEUE), client.hlen("unacked")) == (0, 0)


def _certificates(folder: Path) -> Path:
    """A CA and a server certificate for 127.0.0.1 signed by it."""
    folder.mkdir()
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for argv in (
        ["req", "-x509", *ec, "-days", "1", "-subj", "/CN=cast test CA", "-keyout", "ca.key", "-out", "ca.crt"],
        ["req", *ec, "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", "redis.key", "-out", "redis.csr"],
        ["x509", "-req", "-in", "redis.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
         "-days", "1", "-copy_extensions", "copy", "-out", "redis.crt"],
    ):  # fmt: skip
        subprocess.run(["openssl", *argv], cwd=folder, check=True, capture_output=True, timeout=30)
    return folder


def test_tls_as_documented(tmp_path: Path) -> None:
    """The commented TLS settings switched on, and the rediss:// URL of the docs used by Celery as it is."""
    port = PORTS[2]
    tls = _certificates(tmp_path / "tls")
    (documented,) = set(re.findall(r"rediss://\S+", REDIS_CONF.read_text()))
    url = documented.replace("SECRET", PASSWORD).replace("10.0.0.1:6380", f"127.0.0.1:{port}")
    url = url.replace("/etc/cast-pipeline/redis-ca.crt", str(tls / "ca.crt"))
    config = _test_config(tmp_path, port, tls=tls)
    log = config.with_suffix(".log")
    with log.open("ab") as out:
        proc = subprocess.Popen([_redis_server(), str(config)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while "Ready to accept connections" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.05)
        with pytest.raises(redis.ConnectionError):  # plain TCP on the same port: refused
            redis.Redis(port=port, password=PASSWORD, retry=None, socket_timeout=2).ping()
        app = celery.Celery("fleet-test", broker=url, backend=url)
        sent = app.send_task("execute_plan", queue=QUEUE).id
        with kombu.Connection(url) as conn:
            message = conn.SimpleQueue(QUEUE).get(timeout=5)
            assert message.headers["id"] == sent
            message.ack()
        assert app.backend.get_task_meta(sent)["status"] == "PENDING"  # the result backend over TLS too
        app.close()
        untrusted = url.replace(f"&ssl_ca_certs={tls / 'ca.crt'}", "")  # the system CAs do not know ours
        with kombu.Connection(untrusted, connect_timeout=5) as conn, pytest.raises(Exception, match="certificate"):
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0)
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_a_worker_joins_with_the_shipped_unit_and_env_file(tmp_path: Path) -> None:
    """cast-worker@speech-cpu as systemd would start it: its ExecStart=, the fleet env file, this Redis."""
    port = PORTS[0]
    env = {**os.environ, **read_env_file(FLEET / "env.example")}  # EnvironmentFile= on top of the process env
    env["CAST_CELERY_BROKER_URL"] = env["CAST_CELERY_BROKER_URL"].replace("10.0.0.1:6379", f"127.0.0.1:{port}")
    assert PASSWORD in env["CAST_CELERY_BROKER_URL"], "the env file's URL carries redis.conf's password"
    env |= {"DAGSTER_HOME": str(tmp_path), "CAST_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"}
    unit = parse_systemd_unit(FLEET / "systemd" / "cast-worker@.service")
    argv = [arg.replace("%i", QUEUE) for arg in shlex.split(unit.one("Service", "ExecStart"))]
    argv[0] = str(Path(sys.executable).parent / PurePosixPath(argv[0]).name)
    with _running(_test_config(tmp_path, port), port):
        log = tmp_path / "worker.log"
        with log.open("wb") as out:
            worker = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        app = celery.Celery("fleet-test", broker=_url(port))
        try:
            deadline = time.monotonic() + 60
            names: list[str] = []
            while not any(name.startswith(f"{QUEUE}@") for name in names):
                assert worker.poll() is None, f"worker exited with {worker.returncode}:\n{log.read_text()[-3000:]}"
                assert time.monotonic() < deadline, f"worker did not answer a ping:\n{log.read_text()[-3000:]}"
                names = [name for reply in app.control.ping(timeout=0.5) for name in reply]
            queues = app.control.inspect(destination=names, timeout=2.0, limit=1).active_queues() or {}
            assert [q["name"] for q in queues[names[0]]] == [QUEUE], "the queue of the unit's instance name"
            worker.send_signal(signal.SIGTERM)  # systemctl stop: Celery's warm shutdown
            assert worker.wait(timeout=30) == 0, log.read_text()[-3000:]
        finally:
            app.close()
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
