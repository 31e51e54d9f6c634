"""`dagster job launch` and a UI-style asset backfill, through a real `dagster dev` (webserver + daemon).

This is the path a user takes from the README: runs are queued in the instance and executed by the
daemon from the project's workspace.yaml, not in the test process.
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
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import httpx
import pytest
from dagster._core.instance.ref import InstanceRef

from cast_pipeline.defs.feeds.partitions import EPISODES, FEEDS
from cast_pipeline.feeds.discovery import scan_feeds
from cast_pipeline.paths import DataPaths
from cast_pipeline.settings import load_settings
from cast_pipeline_tests.conftest import REPO_ROOT
from cast_pipeline_tests.defs.feedkit import Item, serve_feed
from cast_pipeline_tests.httpserver import LocalHTTPServer

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent

BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""


def open_instance(home: str) -> dg.DagsterInstance:
    """The instance at ``home``, opened the way the daemon and webserver open it (from its dagster.yaml)."""
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(home))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dagster_dev(tmp_path: Path, http_server: LocalHTTPServer) -> Iterator[tuple[dict[str, str], int, list[str]]]:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")  # the project's own instance config
    items = [Item(f"ep-{i}", f"Episode {i}", pub=f"Mon, 0{i} Mar 2023 10:00:00 GMT") for i in range(1, 5)]
    url = serve_feed(http_server, "/feed.xml", "Show", items)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "CAST_DATA_DIR": str(tmp_path / "data"),
        "CAST_FEEDS_FILE": str(tmp_path / "feeds.yaml"),
    }
    settings = load_settings(data_dir=env["CAST_DATA_DIR"], feeds_file=env["CAST_FEEDS_FILE"])
    with open_instance(str(home)) as instance:
        instance.add_dynamic_partitions(FEEDS, [url])
        keys = scan_feeds([url], set(), DataPaths(settings.data_dir), settings).new_keys
        instance.add_dynamic_partitions(EPISODES, keys)
    port = _free_port()
    proc = subprocess.Popen(
        [str(BIN / "dagster"), "dev", "-w", "workspace.yaml", "-p", str(port), "-h", "127.0.0.1"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(1)
        else:
            pytest.fail("dagster dev did not start within 90 s")
        yield env, port, keys
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _wait_for_runs(home: str, count: int, timeout: float = 150) -> list[dg.DagsterRun]:
    deadline = time.monotonic() + timeout
    with open_instance(home) as instance:
        while time.monotonic() < deadline:
            runs = instance.get_runs()
            if len(runs) >= count and all(r.is_finished for r in runs):
                return list(runs)
            time.sleep(1)
    pytest.fail(f"expected {count} finished runs within {timeout} s")


def test_job_launch_and_asset_backfill_run_through_the_daemon(
    dagster_dev: tuple[dict[str, str], int, list[str]],
) -> None:
    env, port, keys = dagster_dev
    tags = json.dumps({"dagster/partition": keys[0]})
    launch = subprocess.run(
        [str(BIN / "dagster"), "job", "launch", "-w", "workspace.yaml", "-j", "episodes_job", "--tags", tags],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert launch.returncode == 0, launch.stderr
    runs = _wait_for_runs(env["DAGSTER_HOME"], 1)
    assert runs[0].status == dg.DagsterRunStatus.SUCCESS

    params = {
        "partitionNames": keys[1:],
        "assetSelection": [{"path": [name]} for name in ("episode", "publisher_transcript", "transcript")],
        "fromFailure": False,
        "title": "test backfill",
    }
    response = httpx.post(
        f"http://127.0.0.1:{port}/graphql", json={"query": BACKFILL, "variables": {"params": params}}, timeout=60
    )
    result = response.json()["data"]["launchPartitionBackfill"]
    assert result["__typename"] == "LaunchBackfillSuccess", result
    runs = _wait_for_runs(env["DAGSTER_HOME"], 2)
    backfill_runs = [r for r in runs if r.tags.get("dagster/backfill") == result["backfillId"]]
    assert backfill_runs and all(r.status == dg.DagsterRunStatus.SUCCESS for r in backfill_runs)
    assert len(backfill_runs) == 1  # three episodes, one batched run (BackfillPolicy.multi_run)
    data = Path(env["CAST_DATA_DIR"])
    assert len(list(data.glob("episodes/*/*/transcript.md"))) == 4
