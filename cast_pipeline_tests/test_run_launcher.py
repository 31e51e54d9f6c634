"""WatchedRunLauncher gives no verdict it cannot back: only a server that answers can declare a worker gone.

The verdicts on live servers (a restarted location that no longer knows the run; a run still going) are
exercised with real processes in cast_pipeline_tests/deploy/test_recovery.py.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import dagster as dg
import pytest
from dagster._core.launcher import WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG

from cast_pipeline.run_launcher import WatchedRunLauncher


@dg.op
def noop() -> None:
    pass


@dg.job
def probe() -> None:
    noop()


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    overrides = {"run_launcher": {"module": "cast_pipeline.run_launcher", "class": "WatchedRunLauncher"}}
    with dg.instance_for_test(overrides=overrides) as instance:
        yield instance


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def test_the_instance_builds_it_and_run_monitoring_may_ask_it(instance: dg.DagsterInstance) -> None:
    assert isinstance(instance.run_launcher, WatchedRunLauncher)
    assert instance.run_launcher.supports_check_run_worker_health


def test_an_unreachable_location_is_no_verdict(instance: dg.DagsterInstance) -> None:
    """A location restarting (or a box asleep) must not get its running runs failed."""
    tags = {GRPC_INFO_TAG: json.dumps({"host": "127.0.0.1", "port": _closed_port()})}
    run = instance.create_run_for_job(job_def=probe, tags=tags)
    result = instance.run_launcher.check_run_worker_health(run)
    assert result.status == WorkerStatus.RUNNING
    assert "unreachable" in (result.msg or "")


def test_a_run_not_started_by_a_grpc_server_is_left_alone(instance: dg.DagsterInstance) -> None:
    run = instance.create_run_for_job(job_def=probe)
    assert instance.run_launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
