"""Dead runs of this host are failed and their pool slots freed; live ones and other hosts' are left alone."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator

import dagster as dg
import psutil
import pytest

from cast_pipeline.defs.recovery import runs
from cast_pipeline.defs.recovery.runs import (
    RUN_HOST_TAG,
    RUN_PID_TAG,
    RUN_PROCESS_STARTED_TAG,
    fail_dead_runs,
    instance_findings,
)
from cast_pipeline.defs.recovery.sensors import reclaim_dead_runs
from cast_pipeline.processes import this_host

POOLS = {"concurrency": {"pools": {"default_limit": 1}}}


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test(overrides=POOLS) as inst:
        yield inst


@pytest.fixture
def live() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


def _tags(pid: int, started: float, host: str | None = None) -> dict[str, str]:
    return {RUN_HOST_TAG: host or this_host(), RUN_PID_TAG: str(pid), RUN_PROCESS_STARTED_TAG: f"{started:.3f}"}


def _dead_process_tags() -> dict[str, str]:
    proc = subprocess.Popen(["sleep", "60"])
    started = psutil.Process(proc.pid).create_time()
    proc.kill()
    proc.wait()
    return _tags(proc.pid, started)


def _run(instance: dg.DagsterInstance, tags: dict[str, str], status=dg.DagsterRunStatus.STARTED) -> dg.DagsterRun:
    return instance.add_run(dg.DagsterRun(job_name="episodes_job", run_id=str(uuid.uuid4()), status=status, tags=tags))


def _hold(instance: dg.DagsterInstance, run: dg.DagsterRun, pool: str = "speech") -> None:
    instance.event_log_storage.initialize_concurrency_limit_to_default(pool)
    assert instance.event_log_storage.claim_concurrency_slot(pool, run.run_id, "local__speech_transcript").is_claimed


def _holders(instance: dg.DagsterInstance, pool: str = "speech") -> list[str]:
    return [s.run_id for s in instance.event_log_storage.get_concurrency_info(pool).claimed_slots]


def test_a_started_run_whose_process_is_gone_is_failed_and_its_slot_freed(instance: dg.DagsterInstance) -> None:
    run = _run(instance, _dead_process_tags())
    _hold(instance, run)
    findings = instance_findings(instance)
    assert [f.area for f in findings] == ["runs"] and "is gone" in findings[0].problem
    assert "speech" in findings[0].problem and run.run_id in findings[0].subject

    (dead,) = fail_dead_runs(instance)
    assert (dead.run_id, dead.pools, dead.status) == (run.run_id, ("speech",), "STARTED")
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    message = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)[0].dagster_event.message
    assert f"pid {run.tags[RUN_PID_TAG]}" in message and "pool slots freed" in message
    assert _holders(instance) == []
    assert instance_findings(instance) == []
    assert fail_dead_runs(instance) == []  # nothing left to do


def test_a_reused_pid_is_not_the_run_s_process(instance: dg.DagsterInstance, live: subprocess.Popen[bytes]) -> None:
    started = psutil.Process(live.pid).create_time()
    run = _run(instance, _tags(live.pid, started - 3600))  # same pid, a process started an hour earlier
    assert [d.run_id for d in fail_dead_runs(instance)] == [run.run_id]


def test_live_processes_and_other_hosts_are_left_alone(
    instance: dg.DagsterInstance, live: subprocess.Popen[bytes]
) -> None:
    alive = _run(instance, _tags(live.pid, psutil.Process(live.pid).create_time()))
    _hold(instance, alive)
    elsewhere = _run(instance, {**_dead_process_tags(), RUN_HOST_TAG: "gpu-box"})
    untagged = _run(instance, {})  # e.g. `dagster asset materialize` in some shell: its process is unknown
    assert fail_dead_runs(instance) == []
    assert instance_findings(instance) == []
    for run in (alive, elsewhere, untagged):
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
    assert _holders(instance) == [alive.run_id]


def test_slots_left_by_finished_or_deleted_runs_are_freed_after_a_grace(
    instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    canceled = _run(instance, {}, status=dg.DagsterRunStatus.CANCELED)  # "terminated in the UI"
    _hold(instance, canceled)
    assert fail_dead_runs(instance) == []  # just finished: it may still be releasing its slots itself
    findings = instance_findings(instance)
    assert [f.area for f in findings] == ["pool slots"] and "CANCELED" in findings[0].problem

    monkeypatch.setattr(runs, "FINISHED_GRACE_SECONDS", 0.0)
    (freed,) = fail_dead_runs(instance)
    assert (freed.run_id, freed.pools) == (canceled.run_id, ("speech",))
    assert _holders(instance) == []

    failed = _run(instance, _dead_process_tags(), status=dg.DagsterRunStatus.FAILURE)  # its worker died
    monkeypatch.setattr(runs, "FINISHED_GRACE_SECONDS", 3600.0)
    _hold(instance, failed)
    assert [d.run_id for d in fail_dead_runs(instance)] == [failed.run_id]  # its process is gone: no grace

    instance.event_log_storage.claim_concurrency_slot("speech", "a-deleted-run", "step")
    (gone,) = fail_dead_runs(instance)
    assert gone.run_id == "a-deleted-run" and _holders(instance) == []


def test_the_sensor_reclaims_dead_runs(instance: dg.DagsterInstance) -> None:
    run = _run(instance, _dead_process_tags())
    _hold(instance, run)
    result = reclaim_dead_runs(dg.build_sensor_context(instance=instance))
    assert isinstance(result, dg.SkipReason) and f"run {run.run_id[:8]}" in (result.skip_message or "")
    assert _holders(instance) == []
    again = reclaim_dead_runs(dg.build_sensor_context(instance=instance))
    assert "no dead runs" in (again.skip_message or "")
