"""Runs whose process died: find them, fail them properly, free the pool slots they hold.

Why: on one machine Dagster's default run launcher cannot see a run worker die. After ``kill -9``
of `cast-pipeline run` (or an OOM kill) the run stays STARTED and keeps its ``speech`` pool slot, so
every later run waits forever at "Step blocked by limit for pool speech". Each run records which
process runs it: `cast-pipeline run` tags its runs with host, pid and process start time
(:func:`run_process_tags`); runs launched by `dagster dev` write "Started process for run (pid: N)"
as their first engine event, and their code server runs on this host when the code location is
managed by Dagster or served on a loopback address. A run whose process is gone from this host is
marked failed with a PIPELINE_FAILURE event the UI shows (the same call Dagster's run monitoring
uses), then its slots and pending slot claims are freed, as Dagster's own
``free_slots_after_run_end_seconds`` would do much later. Runs of other hosts are never touched.

Used by `cast-pipeline run` (before its first batch), the ``reclaim_dead_runs`` sensor of
`dagster dev`, and `cast-pipeline doctor` (:func:`instance_findings`).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

import dagster as dg
from dagster._core.events import DagsterEventType, EngineEventData
from dagster._core.remote_origin import GrpcServerCodeLocationOrigin

from cast_pipeline.health import Finding
from cast_pipeline.processes import ProcessRef, current_process, is_alive, this_host

RUN_HOST_TAG = "cast/host"
RUN_PID_TAG = "cast/pid"
RUN_PROCESS_STARTED_TAG = "cast/process_started"
# A finished run frees its slots itself on the way out; after this long, whatever it still holds is leaked.
FINISHED_GRACE_SECONDS = 30.0
# Runs whose process cannot be judged from here, quiet for this long, are reported as possibly stuck.
QUIET_WARNING_SECONDS = 3600.0
_UNFINISHED = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
_WORKER_EVENT_PREFIXES = ("Started process for run", "Executing steps in process")
_LOOPBACK = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


@dataclass(frozen=True)
class DeadRun:
    """A run this host failed (or whose leftover slots it freed) because its process is gone."""

    run_id: str
    job_name: str
    status: str  # the status it had: STARTED, CANCELING, ... or FAILURE/CANCELED for leftover slots
    process: str  # "pid 1234 on host" or "unknown process"
    pools: tuple[str, ...]  # pools whose slots (or queued slot claims) were freed

    def line(self) -> str:
        pools = ", ".join(self.pools)
        if self.status in ("SUCCESS", "FAILURE", "CANCELED", "DELETED"):
            return f"run {self.run_id[:8]} ({self.job_name}, {self.status}) still held pool slot(s) {pools}: freed"
        freed = f", freed its pool slot(s) {pools}" if pools else ""
        return (
            f"run {self.run_id[:8]} ({self.job_name}) was {self.status} but its process ({self.process}) "
            f"is gone: marked failed{freed}"
        )


def run_process_tags() -> dict[str, str]:
    """Tags that tie a run executed in this process to this process (host, pid, start time)."""
    me = current_process()
    return {RUN_HOST_TAG: me.host, RUN_PID_TAG: str(me.pid), RUN_PROCESS_STARTED_TAG: f"{me.started:.3f}"}


def _from_tags(tags: Mapping[str, str]) -> ProcessRef | None:
    try:
        return ProcessRef(tags[RUN_HOST_TAG], int(tags[RUN_PID_TAG]), float(tags[RUN_PROCESS_STARTED_TAG]))
    except (KeyError, ValueError):
        return None


def _origin_is_local(run: dg.DagsterRun) -> bool:
    """Whether a launched run's worker runs on this host: its code server is managed here or on loopback."""
    origin = run.remote_job_origin
    if origin is None:  # executed in some caller's process (e.g. `dagster asset materialize`): unknown host
        return False
    location = origin.repository_origin.code_location_origin
    if isinstance(location, GrpcServerCodeLocationOrigin):
        return location.host in _LOOPBACK or location.host == this_host()
    return True  # managed by the webserver/daemon of this instance (dagster dev, python_module in workspace.yaml)


def run_process(instance: dg.DagsterInstance, run: dg.DagsterRun) -> ProcessRef | None:
    """The process that executes ``run``, when it can be known; None otherwise."""
    tagged = _from_tags(run.tags)
    if tagged is not None or not _origin_is_local(run):
        return tagged
    for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.event_specific_data if entry.dagster_event else None
        if not isinstance(data, EngineEventData) or not entry.user_message.startswith(_WORKER_EVENT_PREFIXES):
            continue
        pid = data.metadata.get("pid")
        try:
            return ProcessRef(this_host(), int(str(pid.value)), None, seen=entry.timestamp) if pid else None
        except ValueError:
            return None
    return None


def _slot_holders(instance: dg.DagsterInstance) -> dict[str, set[str]]:
    """{run id: pools} for every run that holds a pool slot or waits in a pool's queue."""
    storage = instance.event_log_storage
    holders: dict[str, set[str]] = defaultdict(set)
    if not storage.supports_global_concurrency_limits:
        return holders
    for pool in storage.get_concurrency_keys():
        info = storage.get_concurrency_info(pool)
        for slot in info.claimed_slots:
            holders[slot.run_id].add(pool)
        for step in info.pending_steps:
            holders[step.run_id].add(pool)
    return holders


def _dead(instance: dg.DagsterInstance, run: dg.DagsterRun) -> ProcessRef | None:
    """The run's process when it is known, on this host, and gone; else None."""
    ref = run_process(instance, run)
    if ref is None or ref.host != this_host() or is_alive(ref):
        return None
    return ref


def fail_dead_runs(instance: dg.DagsterInstance) -> list[DeadRun]:
    """Fail the unfinished runs of this host whose process is gone and free every leaked pool slot.

    Leaked: slots still held by runs that finished (failed, canceled, succeeded) whose process is gone,
    or, when their process cannot be checked from here, that finished over ``FINISHED_GRACE_SECONDS``
    ago. (In `dagster dev` the code server marks a run failed when its worker dies, without freeing its
    slots.) Returns what was done.
    """
    holders = _slot_holders(instance)
    done: list[DeadRun] = []
    me = current_process()
    for record in instance.get_run_records(dg.RunsFilter(statuses=_UNFINISHED)):
        run = record.dagster_run
        ref = _dead(instance, run)
        if ref is None or (ref.pid == me.pid and ref.host == me.host):
            continue
        instance.report_run_failed(
            run,
            message=f"The process of this run ({ref.describe()}) is gone (killed or crashed); marked failed and "
            "its pool slots freed so other runs can go on. Its unfinished episodes run again with the next run.",
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        pools = tuple(sorted(holders.pop(run.run_id, ())))
        done.append(DeadRun(run.run_id, run.job_name, run.status.value, ref.describe(), pools))
    done.extend(_free_leftover_slots(instance, holders))
    return done


def _free_leftover_slots(instance: dg.DagsterInstance, holders: Mapping[str, set[str]]) -> list[DeadRun]:
    done: list[DeadRun] = []
    if not holders:
        return done
    now = time.time()
    for record in instance.get_run_records(dg.RunsFilter(run_ids=list(holders))):
        run = record.dagster_run
        if not run.is_finished:
            continue
        ref = run_process(instance, run)
        ended = record.end_time or record.update_timestamp.timestamp()
        if ref is not None and ref.host == this_host():
            if is_alive(ref):  # still winding down: it frees its slots itself
                continue
        elif now - ended < FINISHED_GRACE_SECONDS:  # process unknown here: give it time to free them
            continue
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        process = ref.describe() if ref else "unknown process"
        done.append(DeadRun(run.run_id, run.job_name, run.status.value, process, tuple(sorted(holders[run.run_id]))))
    known = {r.dagster_run.run_id for r in instance.get_run_records(dg.RunsFilter(run_ids=list(holders)))}
    for run_id in set(holders) - known:  # the run was deleted but its slots were not
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
        done.append(DeadRun(run_id, "deleted run", "DELETED", "unknown process", tuple(sorted(holders[run_id]))))
    return done


def instance_findings(instance: dg.DagsterInstance) -> list[Finding]:
    """Problems of the instance's runs and pool slots, each with its fix (nothing is changed).

    Reports unfinished runs of this host whose process is gone, slots held by finished or deleted
    runs, and unfinished runs quiet for over an hour whose process cannot be checked from here.
    Returns an empty list when all is well.
    """
    fix_dead = (
        "`cast-pipeline run` fails it and frees its slots before its first batch (in `dagster dev` the "
        "reclaim_dead_runs sensor does it within a minute); its unfinished episodes run again"
    )
    findings: list[Finding] = []
    holders = _slot_holders(instance)
    now = time.time()
    for record in instance.get_run_records(dg.RunsFilter(statuses=_UNFINISHED)):
        run = record.dagster_run
        subject = f"run {run.run_id} ({run.job_name})"
        ref = run_process(instance, run)
        pools = holders.get(run.run_id, set())
        held = f", holding pool slot(s) {', '.join(sorted(pools))}" if pools else ""
        if ref is not None and ref.host == this_host():
            if not is_alive(ref):
                problem = f"is {run.status.value} but its process ({ref.describe()}) is gone{held}"
                findings.append(Finding("runs", subject, problem, fix_dead))
            continue
        last = _last_event_time(instance, run.run_id) or record.create_timestamp.timestamp()
        if now - last > QUIET_WARNING_SECONDS:
            where = ref.describe() if ref else "an unknown process"
            findings.append(
                Finding(
                    "runs",
                    subject,
                    f"is {run.status.value} on {where} with no event for {(now - last) / 60:.0f} min{held}",
                    "check that process; if it is gone, terminate the run in the UI (Runs -> Terminate): "
                    "the next `cast-pipeline run` then frees the slots it still holds",
                    severity="warning",
                )
            )
    finished = instance.get_run_records(dg.RunsFilter(run_ids=list(holders))) if holders else []
    known = {r.dagster_run.run_id: r for r in finished}
    for run_id, pools in holders.items():
        record = known.get(run_id)
        if record is not None and not record.dagster_run.is_finished:
            continue
        status = record.dagster_run.status.value if record else "deleted"
        findings.append(
            Finding(
                "pool slots",
                f"run {run_id}",
                f"holds pool slot(s) {', '.join(sorted(pools))} although it is {status}: runs needing "
                "those pools wait for ever",
                "`cast-pipeline run` frees them before its first batch (also the reclaim_dead_runs sensor)",
            )
        )
    return findings


def _last_event_time(instance: dg.DagsterInstance, run_id: str) -> float | None:
    records = instance.get_records_for_run(run_id, ascending=False, limit=1).records
    return records[0].event_log_entry.timestamp if records else None
