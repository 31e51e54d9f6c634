"""Real processes of the PostgreSQL deployment for the fault tests: code servers, daemon, a private PostgreSQL.

Why here: the recovery tests kill and restart these processes the way systemd does (SIGKILL of the whole
process group, restart after a delay), so each one is started in its own session with its own log, on a
free port, with the environment a host of deploy/ would give it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
import yaml

from cast_pipeline_tests.conftest import REPO_ROOT
from cast_pipeline_tests.deploy.deploykit import DAGSTER_YAML, load_yaml

BIN = Path(sys.executable).parent
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check: Callable[[], T | None], timeout: float, what: str, every: float = 0.5) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def _merge(base: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def write_instance_yaml(home: Path, changes: Mapping[str, Any]) -> dict[str, Any]:
    """deploy/dagster.yaml with ``changes`` merged in (faster daemon intervals for a test), into ``home``."""
    config = _merge(load_yaml(DAGSTER_YAML), changes)
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return config


class Service:
    """One long-running process (a code server, the daemon, PostgreSQL) that a test kills and restarts."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], workdir: Path) -> None:
        # The test-only modules these processes load (fast_daemon, gpu_location...) live in the
        # cast_pipeline_tests package, which is not installed: put the repository on their path.
        path = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        self.name, self.argv, self.env, self.workdir = name, argv, {**env, "PYTHONPATH": path}, workdir
        self.log = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"\n===== start {self.starts} at {time.time():.1f} =====\n".encode())
            out.flush()
            # own session: a kill reaches the server and its run workers, like systemd's control group
            self.proc = subprocess.Popen(
                self.argv, env=self.env, cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the whole process group and wait for the leader to exit."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.alive():
            self.kill(signal.SIGINT)
        if self.proc is not None:  # leftovers of the group (run workers) go too
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def grpc_location(name: str, module: str, port: int, env: Mapping[str, str], workdir: Path, *extra: str) -> Service:
    argv = [str(BIN / "dagster"), "api", "grpc", "-m", module, "-h", "127.0.0.1", "-p", str(port)]
    return Service(name, [*argv, "--location-name", name, *extra], env, workdir)


def wait_for_grpc(service: Service, port: int, timeout: float = 120) -> None:
    """Wait until the server answers a gRPC ping (in this process: no CLI start-up in the measured time)."""
    from dagster._core.errors import DagsterUserCodeUnreachableError
    from dagster._grpc.client import DagsterGrpcClient

    client = DagsterGrpcClient(port=port, host="127.0.0.1")

    def healthy() -> bool:
        if not service.alive():
            raise AssertionError(f"{service.name} exited:\n{service.tail()}")
        try:
            client.ping("up")
        except DagsterUserCodeUnreachableError:
            return False
        return True

    wait_for(healthy, timeout, f"gRPC server {service.name} on port {port}", every=0.2)


def daemon(workspace: Path, env: Mapping[str, str], workdir: Path, backfill_interval: int | None = None) -> Service:
    """The real `dagster-daemon`; with ``backfill_interval``, its backfill loop ticks that often (fast_daemon)."""
    if backfill_interval is None:
        return Service("daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], env, workdir)
    wrapper = [sys.executable, "-m", "cast_pipeline_tests.deploy.fast_daemon", str(backfill_interval)]
    return Service("daemon", [*wrapper, "run", "-w", str(workspace)], env, workdir)


def webserver(workspace: Path, port: int, env: Mapping[str, str], workdir: Path) -> Service:
    argv = [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-w", str(workspace)]
    return Service("webserver", argv, env, workdir)


def graphql(port: int, query: str, timeout: float = 10) -> dict[str, Any]:
    """POST ``query`` to the webserver's GraphQL endpoint; its ``data``."""
    import json
    import urllib.request

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())["data"]


def report(fault: str, measure: str, seconds: float) -> None:
    """One recovery figure, printed (``pytest -s``) in the form bench/bench_recovery.py collects."""
    print(f"\nrecovery | {fault} | {measure} | {seconds:.1f} s", flush=True)


# --- run records ----------------------------------------------------------------------------------


def step_started_at(instance: dg.DagsterInstance, run_id: str, step_key: str) -> float | None:
    """Wall-clock time of the step's STEP_START (it comes after the step got its pool slot)."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_START).records
    times = [r.event_log_entry.timestamp for r in records if r.event_log_entry.step_key == step_key]
    return min(times) if times else None


def worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The run worker's pid, from the engine event of its (in-process) executor."""
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        message = entry.dagster_event.message if entry.dagster_event else None
        if message and message.startswith(("Started process for run (pid: ", "Executing steps in process (pid: ")):
            return int(message.split("pid: ")[1].split(")")[0])
    return None


def runs_of(instance: dg.DagsterInstance, job_name: str) -> list[dg.DagsterRun]:
    """Every run of ``job_name``, oldest first."""
    return list(reversed(instance.get_runs(filters=dg.RunsFilter(job_name=job_name))))


# --- a private PostgreSQL cluster -----------------------------------------------------------------


def postgres_bin() -> Path | None:
    """The directory of initdb/pg_ctl: Debian's /usr/lib/postgresql/<version>/bin, else PATH.

    Debian's own directory first: /usr/bin's pg_ctl and createdb are pg_wrapper scripts bound to the
    system's clusters.
    """
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if versions:
        return versions[-1].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


class PrivateCluster:
    """``initdb`` + ``pg_ctl`` on a free port in a temp dir: a PostgreSQL this test alone stops and starts.

    initdb refuses to run as root, so as root the cluster belongs to the ``postgres`` user (runuser).
    """

    def __init__(self, bindir: Path, root: Path) -> None:
        self.bindir, self.root = bindir, root
        self.data = root / "pgdata"
        self.port = free_port()
        self.logfile = root / "postgres.log"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *argv: str, timeout: float = 120) -> None:
        done = subprocess.run([*self._as, *argv], capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited with {done.returncode}:\n{done.stdout}{done.stderr}")

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self._as:
            shutil.chown(self.root, "postgres")
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.root}'\n"
                "fsync = off\nmax_connections = 200\n"
            )

    def start(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.logfile), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def create_database(self, name: str) -> None:
        self._run(str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)

    def pg_env(self, db: str) -> dict[str, str]:
        return {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": "postgres",
            "DAGSTER_PG_PASSWORD": "",
            "DAGSTER_PG_DB": db,
        }
