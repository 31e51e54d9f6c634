"""A backfill through the real daemon spreads over the fleet's workers and outlives a PostgreSQL restart.

As the fleet deployment runs it (deploy/README.md, "Fleet"): the ``fleet`` location is a ``dagster api
grpc`` server, a real ``dagster-daemon`` (run queue, backfills, monitoring, retries, sensors) loads it
by workspace.yaml next to a stand-in for ``core`` carrying ``resume_failed_backfills``, and the
backfill is added to the instance exactly as the UI's "Launch backfill" does
(``PartitionBackfill.from_asset_partitions`` + ``add_backfill``, dagster_graphql's
launchPartitionBackfill). The location's host sets CAST_EPISODES_PER_RUN=2, so the 8 episodes are 4
runs of the implicit asset job, started by the daemon's queue on the location and sending their speech
steps to the speech-cpu workers alpha and beta (package fixture, conftest.py). The server side
(workspace, locations, daemon, the UI's backfill) is daemonkit.py, shared with bench/bench_fleet.py.

While a speech step runs on a worker, the fleet's own PostgreSQL cluster is stopped (``pg_ctl stop -m
fast``, what ``systemctl restart postgresql`` does) and started OUTAGE_SECONDS later. The backfill
must complete with no hand work: by itself, or by the automatic resume of resume_failed_backfills when
runs failed during the outage; only runs begun before PostgreSQL was back may fail. Each episode ends
with one speech file and at most one materialisation per run, made by a worker of the queue, and the
episodes land on both workers. Then `dagster job backfill` from a shell (deploy/README.md) queues one
run per episode, which the same daemon starts and the workers run.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections import Counter
from collections.abc import Callable

import dagster as dg
import pytest
from dagster._core.execution.backfill import BulkActionStatus
from dagster._core.storage.tags import BACKFILL_ID_TAG, PARTITION_NAME_TAG
from dagster._utils.error import SerializableErrorInfo

from cast_pipeline.defs.speech.keys import CPU
from cast_pipeline.segments import segments_from_json
from cast_pipeline.transcripts.store import speech_file
from cast_pipeline_tests.deploy.recoverykit import BIN, wait_for
from cast_pipeline_tests.fleet.conftest import JOB, QUEUE, SPEECH, Fleet
from cast_pipeline_tests.fleet.daemonkit import add_backfill, backfill_chain, backfill_runs, server, server_env

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
PER_RUN = 2  # CAST_EPISODES_PER_RUN of the location's host: 8 episodes -> 4 runs
# A restart of PostgreSQL, long enough that the run in its step cannot ride it out on dagster-postgres'
# own retries (about 6 s), so the fault recovery is exercised, not just the retries.
OUTAGE_SECONDS = float(os.environ.get("CAST_TEST_FLEET_PG_OUTAGE_SECONDS", "15"))
BACKFILL_INTERVAL = 5  # the daemon's backfill loop (Dagster's is 30 s; cast_pipeline_tests.deploy.fast_daemon)
BACKFILL_ID = "fleetbf"


def _speech_step_running(instance: dg.DagsterInstance) -> str | None:
    """A STARTED run of the backfill whose speech step has started (on a worker) and not ended."""
    for record in backfill_runs(instance, BACKFILL_ID):
        run = record.dagster_run
        if run.status != dg.DagsterRunStatus.STARTED:
            continue
        records = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.STEP_START).records
        if records and not instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS).records:
            return run.run_id
    return None


def _error_classes(error: SerializableErrorInfo | None) -> list[str]:
    found = []
    while error is not None:
        found.append(error.cls_name or "?")
        error = error.cause or error.context
    return found


def _backfill_from_the_shell(
    fleet: Fleet, workspace: os.PathLike[str], env: dict[str, str], supervised: Callable
) -> list[dg.DagsterRun]:
    """`dagster job backfill` as deploy/README.md shows it: one queued run per episode, started by the daemon."""
    keys = fleet.episodes[:2]  # done already by test_fleet.py, or not: the step runs on a worker either way
    argv = [str(BIN / "dagster"), "job", "backfill", "-w", str(workspace), "-l", "fleet", "-j", JOB]
    argv += ["--partitions", ",".join(keys), "--noprompt"]
    cli = subprocess.run(argv, env=env, cwd=fleet.root, capture_output=True, text=True, timeout=180)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    found = re.search(r"Launched backfill job `(\w+)`", cli.stdout)
    assert found, cli.stdout

    def finished() -> list[dg.DagsterRun] | None:
        runs = fleet.instance.get_runs(filters=dg.RunsFilter(tags={BACKFILL_ID_TAG: found.group(1)}))
        return runs if len(runs) == len(keys) and all(r.is_finished for r in runs) else None

    return wait_for(supervised(finished), 240, f"the runs of `dagster job backfill`\n{fleet.logs()}")


def test_a_backfill_through_the_daemon_spreads_over_the_workers_and_completes_across_a_postgres_restart(
    fleet: Fleet,
) -> None:
    fleet.start_workers("alpha", "beta")
    instance, keys = fleet.instance, fleet.backfill_episodes
    env = server_env(fleet.env, PER_RUN)
    side = server(env, fleet.root, BACKFILL_INTERVAL)
    workspace, the_daemon = side.workspace, side.daemon
    fleet.services += side.services
    side.start_locations()
    add_backfill(instance, workspace, BACKFILL_ID, keys, SPEECH, "fleet backfill through the daemon")
    started = time.monotonic()
    the_daemon.start()
    restarts = 0

    def supervised(check):  # type: ignore[no-untyped-def]
        def tick():  # type: ignore[no-untyped-def]
            nonlocal restarts
            if not the_daemon.alive():  # systemd: Restart=on-failure (the daemon may exit without its database)
                the_daemon.start()
                restarts += 1
            return check()

        return tick

    try:
        victim = wait_for(
            supervised(lambda: _speech_step_running(instance)), 240, f"a speech step on a worker\n{fleet.logs()}"
        )
        fleet.postgres.stop("fast")
        time.sleep(OUTAGE_SECONDS)
        fleet.postgres.start()
        back, back_at = time.monotonic(), time.time()

        def completed() -> bool:
            chain = backfill_chain(instance, BACKFILL_ID)
            return bool(chain) and chain[-1].status == BulkActionStatus.COMPLETED_SUCCESS

        wait_for(supervised(completed), 420, f"the backfill to complete\n{fleet.logs()}", every=1)
        done = time.monotonic()
        cli_runs = _backfill_from_the_shell(fleet, workspace, env, supervised)
    finally:
        side.stop()

    chain, runs = backfill_chain(instance, BACKFILL_ID), backfill_runs(instance, BACKFILL_ID)
    failed = [r for r in runs if r.dagster_run.status != dg.DagsterRunStatus.SUCCESS]
    print(
        f"\nfleet backfill of {len(keys)} episodes through the daemon, PostgreSQL down {OUTAGE_SECONDS:.0f} s: "
        f"complete {done - started:.1f} s after the daemon started, {done - back:.1f} s after PostgreSQL was back; "
        f"{len(runs)} runs ({len(failed)} failed; in the step at the outage: {victim[:8]}), "
        f"{len(chain) - 1} automatic resume(s), daemon restarted {restarts} times"
    )
    for record in failed:  # what PostgreSQL's absence did to them, for deploy/README.md
        run_id = record.dagster_run.run_id
        steps = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
        errors = [_error_classes(e.dagster_event.step_failure_data.error) for e in steps if e.dagster_event]
        ended = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        print(f"  failed run {run_id[:8]}: step failures {errors}; {[e.message[:120] for e in ended]}")
    assert {r.status for r in cli_runs} == {dg.DagsterRunStatus.SUCCESS}, cli_runs
    for run in cli_runs:
        [key] = [run.tags[PARTITION_NAME_TAG]]
        assert len(fleet.recorded(run.run_id, key)) == 1
    assert instance.get_materialized_partitions(SPEECH) >= set(keys)
    # only runs that were under way while PostgreSQL was away may have failed
    assert all(r.create_timestamp.timestamp() < back_at for r in failed), [
        (r.dagster_run.run_id, r.dagster_run.status, r.create_timestamp) for r in failed
    ]
    workers: Counter[str] = Counter()
    for key in keys:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=SPEECH, asset_partitions=[key]), limit=100
        ).records
        per_run = Counter(r.run_id for r in records)
        assert records and max(per_run.values()) == 1, f"{key}: materialised more than once in a run: {per_run}"
        path = fleet.paths.episode_file(key, speech_file(CPU))
        assert [p.name for p in path.parent.iterdir() if p.name.startswith("speech")] == [path.name]
        _, meta = segments_from_json(path.read_bytes())  # who transcribed it (a reuse records no new worker)
        assert meta["queue"] == QUEUE and meta["host"] and meta["pid"], meta  # a worker ran it, not the server
        workers[str(meta["worker"])] += 1
    assert set(workers) == {"alpha@alpha-host", "beta@beta-host"}, workers
