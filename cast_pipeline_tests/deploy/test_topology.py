"""End to end on one machine: deploy/dagster.yaml + deploy/workspace.yaml run a job on the right "host".

Three `dagster api grpc` servers started with the deploy files' command lines (on 127.0.0.1-3, one per
host) serve a probe module; `dagster job launch` queues a run of the `transcribe_gpu` location in the
PostgreSQL instance and a real `dagster-daemon` dequeues and launches it. The run must execute as a
subprocess of the transcribe_gpu server, with that server's environment (its compute log folder).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from cast_pipeline_tests.conftest import REPO_ROOT
from cast_pipeline_tests.deploy.deploykit import (
    HOST_VARS,
    LOOPBACK,
    WORKSPACE_YAML,
    deploy_grpc_commands,
    running_grpc_servers,
)

PROBE_MODULE = "cast_pipeline_tests.deploy.probe_location"


def _wait_for_run(instance: dg.DagsterInstance, run_id: str, daemon: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        assert run is not None
        if run.is_finished:
            return
        if daemon.poll() is not None:
            raise AssertionError(f"daemon exited with {daemon.returncode}:\n{log.read_text()[-3000:]}")
        time.sleep(1)
    raise AssertionError(f"run {run_id} not finished in time; daemon log:\n{log.read_text()[-3000:]}")


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the probe reads /proc")
def test_queued_run_executes_on_its_locations_server(
    deploy_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    monkeypatch.setenv("CAST_DATA_DIR", str(shared))
    for location, var in HOST_VARS.items():
        monkeypatch.setenv(var, LOOPBACK[location])
    commands = deploy_grpc_commands()
    for argv in commands.values():
        argv[argv.index("-m") + 1] = PROBE_MODULE
        # the probe module lives in the test package, which is not installed: import it from the checkout
        argv += ["-d", str(REPO_ROOT)]
    # The server creates the schema before the other hosts connect (as in deploy/README.md's order);
    # otherwise three code servers race to create the tables of a fresh database.
    with dg.DagsterInstance.get() as first:
        assert first.get_runs_count() == 0
    # The GPU box has its own value for an instance setting: runs there must resolve it from its env.
    gpu_logs = tmp_path / "gpu-box-compute-logs"
    bin_dir = Path(sys.executable).parent
    with running_grpc_servers(
        commands, tmp_path, env={"transcribe_gpu": {"DAGSTER_COMPUTE_LOG_DIR": str(gpu_logs)}}
    ) as servers:
        target = ["-w", str(WORKSPACE_YAML), "-l", "transcribe_gpu", "-j", "probe_job"]
        launch = subprocess.run(
            [str(bin_dir / "dagster"), "job", "launch", *target],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
        assert launch.returncode == 0, launch.stdout + launch.stderr
        instance = dg.DagsterInstance.get()
        try:
            (run,) = instance.get_runs()
            assert run.status == dg.DagsterRunStatus.QUEUED, "the QueuedRunCoordinator holds it for the daemon"
            assert run.tags["dagster/code_location"] == "transcribe_gpu", "the tag the run caps apply to"
            log = tmp_path / "daemon.log"
            with log.open("wb") as out:
                daemon = subprocess.Popen(
                    [str(bin_dir / "dagster-daemon"), "run", "-w", str(WORKSPACE_YAML)],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=tmp_path,
                )
            try:
                _wait_for_run(instance, run.run_id, daemon, log)
            finally:
                daemon.send_signal(signal.SIGINT)
                try:
                    daemon.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    daemon.kill()
                    daemon.wait()
            finished = instance.get_run_by_id(run.run_id)
            assert finished is not None and finished.status == dg.DagsterRunStatus.SUCCESS
        finally:
            instance.dispose()

        record = json.loads((shared / "probe" / f"{run.run_id}.json").read_text())
        ancestors = set(record["ancestors"])
        assert servers["transcribe_gpu"].pid in ancestors, "the run is a subprocess of the GPU location's server"
        assert not {servers["core"].pid, servers["transcribe_mac"].pid, daemon.pid} & ancestors

    captured = [p for p in gpu_logs.rglob("*") if p.is_file() and "probe ran" in p.read_text(errors="replace")]
    assert captured, "compute logs go where the GPU host's own DAGSTER_COMPUTE_LOG_DIR points"
