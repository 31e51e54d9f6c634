"""In a real `dagster dev`, a run worker killed with kill -9 mid-speech is failed and its slot freed.

The run is launched through the daemon (`dagster job launch`), so its process is only known from its
"Started process for run (pid: N)" event and its code location is managed by `dagster dev` on this
host: the path `cast-pipeline run` tags do not cover. Dagster's code server notices the dead worker
and fails the run but keeps its speech slot claimed; the reclaim_dead_runs sensor (on by default)
must free it within a few of its intervals.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import httpx
import pytest
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from cast_pipeline.defs.feeds.partitions import EPISODES, FEEDS
from cast_pipeline.defs.recovery.runs import run_process
from cast_pipeline.defs.recovery.sensors import RECLAIM_INTERVAL_SECONDS
from cast_pipeline.feeds.discovery import scan_feeds
from cast_pipeline.paths import DataPaths
from cast_pipeline.settings import load_settings
from cast_pipeline_tests.cli.runkit import claimed, serve_clips, wait_for
from cast_pipeline_tests.conftest import REPO_ROOT
from cast_pipeline_tests.httpserver import LocalHTTPServer

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_reclaim_dead_runs_sensor_frees_the_slot_of_a_killed_run_worker(
    tmp_path: Path, http_server: LocalHTTPServer, shared_data: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "CAST_DATA_DIR": str(tmp_path / "data")}
    env["CAST_FEEDS_FILE"] = str(tmp_path / "feeds.yaml")
    url = serve_clips(http_server, shared_data, 3)
    settings = load_settings(data_dir=env["CAST_DATA_DIR"], feeds_file=env["CAST_FEEDS_FILE"])
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    instance.add_dynamic_partitions(FEEDS, [url])
    keys = scan_feeds([url], set(), DataPaths(settings.data_dir), settings).new_keys
    instance.add_dynamic_partitions(EPISODES, keys)

    port = _free_port()
    command = [str(BIN / "dagster"), "dev", "-w", "workspace.yaml", "-p", str(port), "-h", "127.0.0.1"]
    dev = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _up(port), 300, "dagster dev to serve", dev)  # ~7 s idle, minutes on a loaded machine
        tags = json.dumps({ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]})
        launch = [str(BIN / "dagster"), "job", "launch", "-w", "workspace.yaml", "-j", "episodes_job", "--tags", tags]
        subprocess.run(launch, cwd=REPO_ROOT, env=env, check=True, capture_output=True, timeout=120)
        wait_for(lambda: bool(claimed(instance)), 240, "the run to claim the speech slot", dev)
        (run_id,) = claimed(instance)
        run = instance.get_run_by_id(run_id)
        assert run is not None
        ref = run_process(instance, run)
        assert ref is not None, "the run worker's pid must be known from its events"
        os.kill(ref.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        wait_for(lambda: not claimed(instance), RECLAIM_INTERVAL_SECONDS * 4, "the sensor to free the slot", dev)
        print(f"\ndagster dev: slot of the killed run worker freed {time.monotonic() - killed_at:.1f} s after kill -9")
        # Dagster's code server marks the run failed when its worker dies, but leaves its slot claimed
        # (no free_slots_after_run_end_seconds on one machine): the sensor frees it.
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
    finally:
        dev.send_signal(signal.SIGINT)
        try:
            dev.wait(timeout=30)
        except subprocess.TimeoutExpired:
            dev.kill()
        instance.dispose()


def _up(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
