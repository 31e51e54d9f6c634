"""deploy/fleet/redis.conf run by the real redis-server: a password, and queued work that outlives Redis.

The shipped file is used as is except where it must differ on a test machine (bind 127.0.0.1, a test
port, a temporary dir, log to stdout). Steps are sent to a queue the way the fleet sends them (Celery
over kombu's Redis transport); a worker that took one and was killed is a real process killed with
SIGKILL; Redis itself is killed with SIGKILL and started again on the same files.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cast_pipeline_tests.deploy.exposure import REDIS_CONF, redis_directives

celery = pytest.importorskip("celery")
redis = pytest.importorskip("redis")
kombu = pytest.importorskip("kombu")

PORTS = (6395, 6396)  # this session's Redis ports
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


def _test_config(tmp_path: Path, port: int, overrides: str = "") -> Path:
    text = REDIS_CONF.read_text(encoding="utf-8")
    for directive, value in [("bind", "127.0.0.1"), ("port", str(port)), ("dir", str(tmp_path)),
                             ("logfile", '""'), ("pidfile", str(tmp_path / "redis.pid"))]:  # fmt: skip
        text, count = re.subn(rf"(?m)^{directive} .*$", f"{directive} {value}", text)
        assert count == 1, f"redis.conf: expected one `{directive}` line"
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
