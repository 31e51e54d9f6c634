"""The GPU location as a real `dagster api grpc` server: runs launched through the instance execute in it.

Production shape on one machine: a PostgreSQL instance shared by every process, the
transcribe_gpu location served by its own gRPC server process (as on the GPU box), the default run
launcher and coordinator. `dagster job launch` asks that server to start the run, so the run worker
is a child of the server; the speech asset records the pid and host of the process that ran the
model, which must be that child. The core side (this test process) then sees the materialisation
and builds the transcript from it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dagster as dg
import psutil
import pytest
from dagster._core.instance.ref import InstanceRef
from dagster._grpc.client import DagsterGrpcClient

from cast_pipeline.defs.speech.automation import TRANSCRIBE_JOB, TRANSCRIPT_JOB
from cast_pipeline.defs.speech.keys import GPU, speech_key
from cast_pipeline.locations import core
from cast_pipeline.paths import DataPaths
from cast_pipeline_tests.defs.speech.speechkit import (
    SpeechItem,
    latest_metadata,
    register_feed,
    run_range,
    serve_speech_feed,
)
from cast_pipeline_tests.httpserver import LocalHTTPServer

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dagster_yaml(postgres_url: str) -> str:
    # SQLAlchemy maps plain postgresql:// to psycopg 3; dagster-postgres brings psycopg2.
    url = urlunsplit(urlsplit(postgres_url)._replace(scheme="postgresql+psycopg2"))
    return f"""
storage:
  postgres:
    postgres_url: "{url}"
run_coordinator:  # runs start at once (a QueuedRunCoordinator would need `dagster-daemon run`)
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
run_launcher:  # asks the location's gRPC server to start the run: the run executes on its host
  module: dagster
  class: DefaultRunLauncher
telemetry:
  enabled: false
"""


@pytest.fixture
def gpu_server(tmp_path: Path, postgres_url: str, data_dir: Path) -> Iterator[tuple[dict[str, str], int, int]]:
    """(environment, port, pid) of `dagster api grpc -m cast_pipeline.locations.gpu` on the test instance."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(_dagster_yaml(postgres_url))
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "CAST_DATA_DIR": str(data_dir),  # the shared storage
        "CAST_SPEECH_DEVICE": "cpu",  # this "GPU box" has no GPU
        "HF_HUB_OFFLINE": "1",
    }
    port = _free_port()
    command = [str(BIN / "dagster"), "api", "grpc", "-m", "cast_pipeline.locations.gpu", "-h", "127.0.0.1"]
    command += ["-p", str(port), "--location-name", "transcribe_gpu"]
    log = (tmp_path / "grpc.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        # what `dagster api grpc-health-check` asks, from this process (not a new Python process per try)
        client = DagsterGrpcClient(port=port, host="127.0.0.1")
        while client.health_check_query() != "SERVING":
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gRPC server did not come up:\n{(tmp_path / 'grpc.log').read_text()}")
            time.sleep(0.2)
        yield env, port, server.pid
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _wait_for_run(
    instance: dg.DagsterInstance, run_id: str, server_pid: int, timeout: float = 240
) -> tuple[dg.DagsterRun, set[int]]:
    """Poll until the run finishes; meanwhile collect every pid in the gRPC server's process tree."""
    server = psutil.Process(server_pid)
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            seen.update(p.pid for p in server.children(recursive=True))
        except psutil.NoSuchProcess:
            pytest.fail("the gRPC server died while the run was going")
        run = instance.get_run_by_id(run_id)
        if run is not None and run.is_finished:
            return run, seen
        time.sleep(0.2)
    pytest.fail(f"run {run_id} did not finish within {timeout} s")


def _assert_lineage_across_locations(instance: dg.DagsterInstance, workspace: Path) -> None:
    """The workspace graph (what the UI shows): audio -> gpu/speech_transcript -> transcript, per episode."""
    from dagster._core.definitions.partitions.mapping import IdentityPartitionMapping
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget

    with WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(workspace)])) as context:
        request = context.create_request_context()
        errors = {name: e.load_error for name, e in request.get_code_location_entries().items() if e.load_error}
        assert not errors, errors
        graph = request.asset_graph
        owner = {
            key: graph.get(key).resolve_to_singular_repo_scoped_node().repository_handle.location_name
            for key in (dg.AssetKey("audio"), speech_key(GPU), dg.AssetKey("transcript"))
        }
        assert owner == {
            dg.AssetKey("audio"): "core",
            speech_key(GPU): "transcribe_gpu",
            dg.AssetKey("transcript"): "core",
        }
        assert graph.get(speech_key(GPU)).parent_keys == {dg.AssetKey("audio")}
        assert speech_key(GPU) in graph.get(dg.AssetKey("transcript")).parent_keys
        for child, parent in ((speech_key(GPU), dg.AssetKey("audio")), (dg.AssetKey("transcript"), speech_key(GPU))):
            assert isinstance(graph.get_partition_mapping(child, parent), IdentityPartitionMapping)


def test_a_launched_run_executes_in_the_gpu_location_process_and_core_sees_it(
    tmp_path: Path,
    gpu_server: tuple[dict[str, str], int, int],
    http_server: LocalHTTPServer,
    data_dir: Path,
    shared_data: Path,
) -> None:
    env, port, server_pid = gpu_server
    url = serve_speech_feed(http_server, [SpeechItem("jfk", "JFK", audio=shared_data / "audio" / "jfk.wav")])
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n"
        f"  - grpc_server: {{host: 127.0.0.1, port: {port}, location_name: transcribe_gpu}}\n"
        "  - python_module: {module_name: cast_pipeline.locations.core, location_name: core}\n"
    )
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(env["DAGSTER_HOME"])) as instance:
        _assert_lineage_across_locations(instance, workspace)

        # Core side, in this process: feed, episode, publisher lookup (none) and the audio download.
        jfk = register_feed(core.defs, instance, url, data_dir)["JFK"]
        assert run_range(core.defs, "episodes_job", instance, [jfk]).success
        assert latest_metadata(instance, "audio", jfk)["status"] == "downloaded"

        run_id = str(uuid.uuid4())
        started = time.monotonic()
        tags = json.dumps({"dagster/partition": jfk})
        command = [str(BIN / "dagster"), "job", "launch", "-w", str(workspace), "-l", "transcribe_gpu"]
        launch = subprocess.run(
            [*command, "-j", TRANSCRIBE_JOB, "--run-id", run_id, "--tags", tags],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert launch.returncode == 0, launch.stdout + launch.stderr
        run, tree = _wait_for_run(instance, run_id, server_pid)
        wall = time.monotonic() - started
        assert run.status == dg.DagsterRunStatus.SUCCESS, [e.message for e in instance.all_logs(run_id)][-10:]
        assert run.remote_job_origin is not None
        assert run.remote_job_origin.location_name == "transcribe_gpu"

        meta = latest_metadata(instance, speech_key(GPU), jfk)
        assert meta is not None and meta["status"] == "transcribed"
        # The model ran in a child process of the gRPC server, on this host: not in this test process.
        assert meta["pid"] in tree and meta["pid"] not in (os.getpid(), server_pid)
        assert meta["host"] == socket.gethostname()
        assert (meta["device"], meta["model"]) == ("cpu", "tiny.en")
        # ...the process Dagster itself reports as the one executing the run's steps.
        messages = [e.user_message or "" for e in instance.all_logs(run_id)]
        assert f"Executing steps in process (pid: {meta['pid']})" in messages
        print(
            f"\nlaunch to success {wall:.1f} s; speech {meta['duration_seconds']} s of audio in "
            f"{meta['processing_seconds']} s ({meta['realtime_factor']}x realtime) in pid {meta['pid']}"
        )

        # Core side again: the materialisation is in the shared instance, the result on shared storage.
        transcript_sources = core.defs.resolve_sensor_def("transcript_sources")
        with dg.build_sensor_context(instance=instance, definitions=core.defs) as context:
            requests = transcript_sources(context).run_requests
        assert [(r.job_name, r.partition_key) for r in requests] == [(TRANSCRIPT_JOB, jfk)]
        assert run_range(core.defs, TRANSCRIPT_JOB, instance, [jfk]).success
        assert latest_metadata(instance, "transcript", jfk)["source"] == "faster-whisper:tiny.en"
        markdown = DataPaths(data_dir).episode_file(jfk, "transcript.md").read_text(encoding="utf-8")
        assert "ask not what your country can do for you" in markdown.lower()
