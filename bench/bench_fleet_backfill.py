"""A backfill of N episodes through the real daemon over 3 CPU workers: does it spread, and how fast.

Run by hand (not a test), usually through bench/bench_fleet.py:
    .venv/bin/python bench/bench_fleet.py --daemon-backfill 400 [--per-run 25] [--workers 3]

The issue's "a backfill of 400 episodes spreads over all live workers of that queue", with the set-up of
cast_pipeline_tests/fleet/test_fleet_daemon.py (its kits: fleetkit, daemonkit): a PostgreSQL cluster of
its own, Redis with the append-only file, the ``fleet`` location as a gRPC server, the real
``dagster-daemon`` (Dagster's own 30 s backfill loop unless --backfill-interval), ``cast-pipeline worker
--queue speech-cpu`` processes each with its own CAST_WORKER_NAME, and ONE backfill of ``cpu/speech_transcript``
over every episode, added as the UI adds it. Episodes: N copies of the shortest real-speech clip of
shared/data/audio (3 s), tiny.en on the CPU. Untimed: the core side (feed, episodes_job with the audio
downloads) and the workers' start. Timed: from the backfill's creation until it is COMPLETED_*.

Reported: wall time, episodes and runs per worker (from each episode's materialisation metadata: host,
pid, worker), busy workers over time (speech steps' STEP_START -> STEP_SUCCESS/FAILURE), duplicates (one
speech file per episode, one materialisation per partition), the backfill's final status, episodes/hour.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from dagster._core.execution.backfill import BulkActionStatus

from cast_pipeline.defs.speech.keys import CPU, speech_key
from cast_pipeline.paths import DataPaths
from cast_pipeline.transcripts.store import speech_file
from cast_pipeline_tests.conftest import SHARED_DATA
from cast_pipeline_tests.defs.speech.speechkit import SpeechItem
from cast_pipeline_tests.deploy.recoverykit import postgres_bin, wait_for, write_instance_yaml
from cast_pipeline_tests.fleet.daemonkit import (
    add_backfill,
    backfill_chain,
    backfill_runs,
    server,
    server_env,
    stop_new_audio_sensor,
)
from cast_pipeline_tests.fleet.fleetkit import (
    REDIS_PORTS,
    instance_env,
    prepare_episodes,
    private_cluster,
    redis_server,
    wait_for_redis,
    worker,
    worker_ready,
)
from cast_pipeline_tests.httpserver import LocalHTTPServer

QUEUE = "speech-cpu"
SPEECH = speech_key(CPU)
BACKFILL_ID = "benchbf"
DONE = {BulkActionStatus.COMPLETED_SUCCESS, BulkActionStatus.COMPLETED_FAILED, BulkActionStatus.FAILED}


def shortest_clip() -> Path:
    """The shortest real-speech WAV of shared/data/audio (by size: all are 16 kHz mono 16-bit)."""
    return min((SHARED_DATA / "audio").glob("*.wav"), key=lambda p: p.stat().st_size)


@dataclass
class Step:
    run_id: str
    worker: str
    start: float
    end: float
    ok: bool


def speech_steps(instance: dg.DagsterInstance, run_ids: list[str]) -> list[Step]:
    """Each run's speech step: the worker that ran it (its engine event) and its start and end events."""
    steps = []
    for run_id in run_ids:
        start = end = None
        ok, who = False, "?"
        for entry in instance.all_logs(run_id):
            event = entry.dagster_event
            if event is None or not (entry.step_key or "").endswith("speech_transcript"):
                continue
            if event.event_type == dg.DagsterEventType.STEP_START:
                start = entry.timestamp
            elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
                end, ok = entry.timestamp, event.event_type == dg.DagsterEventType.STEP_SUCCESS
            elif event.event_type == dg.DagsterEventType.ENGINE_EVENT and "in celery worker" in (event.message or ""):
                who = (event.message or "").split("in celery worker ")[1].split(" ")[0]
        if start is not None and end is not None:
            steps.append(Step(run_id, who, start, end, ok))
    return steps


def busy_over_time(steps: list[Step], origin: float, bucket: float) -> tuple[int, list[float]]:
    """Most speech steps running at once, and the mean number running in each ``bucket`` seconds."""
    edges = sorted([(s.start, 1) for s in steps] + [(s.end, -1) for s in steps])
    now = most = 0
    for _, change in edges:
        now += change
        most = max(most, now)
    end = max(s.end for s in steps)
    buckets = []
    t = origin
    while t < end:
        overlap = sum(max(0.0, min(s.end, t + bucket) - max(s.start, t)) for s in steps)
        buckets.append(overlap / bucket)
        t += bucket
    return most, buckets


def report(instance: dg.DagsterInstance, paths: DataPaths, keys: list[str], created: float, done: float) -> None:
    chain = backfill_chain(instance, BACKFILL_ID)
    records = backfill_runs(instance, BACKFILL_ID)
    statuses = Counter(r.dagster_run.status.value for r in records)
    wall = done - created
    print(f"backfill: {[b.status.value for b in chain]} (the last is the final status; {len(chain) - 1} resume(s))")
    print(f"  wall time {wall:.1f} s from creation to {chain[-1].status.value}; runs {dict(statuses)}")
    print(f"  {len(keys) / wall * 3600:.0f} episodes/hour ({len(keys) / wall * 60:.1f}/min)")

    mats = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=SPEECH), limit=10 * len(keys)).records
    per_partition = Counter(r.partition_key for r in mats)
    by_worker: Counter[str] = Counter()
    processes: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for record in mats:
        meta = {k: v.value for k, v in record.asset_materialization.metadata.items()}  # type: ignore[union-attr]
        by_worker[str(meta.get("worker"))] += 1
        processes[str(meta.get("worker"))].add((str(meta.get("host")), str(meta.get("pid"))))
    missing = [k for k in keys if k not in per_partition]
    twice = {k: n for k, n in per_partition.items() if n > 1}
    files = [
        k
        for k in keys
        if len([p for p in paths.episode_file(k, speech_file(CPU)).parent.glob("speech*")]) != 1
        or not paths.episode_file(k, speech_file(CPU)).exists()
    ]
    print(
        f"  duplicates: {len(twice)} partitions materialised more than once, {len(files)} episodes without "
        f"exactly one speech file; {len(missing)} partitions not materialised"
    )

    steps = speech_steps(instance, [r.dagster_run.run_id for r in records])
    runs_by_worker = Counter(s.worker for s in steps)
    for name in sorted(by_worker):
        print(
            f"  worker {name}: {by_worker[name]} episodes, {runs_by_worker.get(name, 0)} runs' speech steps, "
            f"processes (host, pid) {sorted(processes[name])}"
        )
    if not steps:
        return
    first = min(s.start for s in steps)
    last = max(s.end for s in steps)
    most, buckets = busy_over_time(steps, created, 30)
    busy = sum(s.end - s.start for s in steps)
    print(
        f"  speech steps: first started {first - created:.1f} s after creation, last ended {last - created:.1f} s; "
        f"max {most} at once; mean busy workers over that span {busy / (last - first):.2f}"
    )
    print("  busy workers per 30 s from creation: " + " ".join(f"{b:.1f}" for b in buckets))
    for s in sorted(steps, key=lambda s: s.start):
        print(
            f"    run {s.run_id[:8]} on {s.worker:<14} {s.start - created:7.1f} -> {s.end - created:7.1f} s"
            f"{'' if s.ok else '  FAILED'}"
        )


def daemon_backfill(n: int, per_run: int, workers: int, max_runs: int, backfill_interval: int | None) -> None:
    clip = shortest_clip()
    root = Path(tempfile.mkdtemp(prefix="bench_fleet_backfill_"))
    data_dir = root / "data"
    port = REDIS_PORTS[2]
    redis = redis_server(port, root, persist=True)
    http = LocalHTTPServer().start()
    bindir = postgres_bin()
    assert bindir is not None, "initdb/pg_ctl needed (apt-get install postgresql)"
    services = []
    with private_cluster(bindir, "fleet") as pg:
        env = instance_env(root, pg.pg_env("fleet"), f"redis://127.0.0.1:{port}/0")
        write_instance_yaml(root / "dagster_home", {"concurrency": {"runs": {"max_concurrent_runs": max_runs}}})
        env.update(CAST_DATA_DIR=str(data_dir), CAST_FEEDS_FILE=str(root / "feeds.yaml"))
        os.environ.update({k: env[k] for k in ("DAGSTER_HOME", "DAGSTER_COMPUTE_LOG_DIR", "DAGSTER_ARTIFACT_DIR")})
        os.environ.update(pg.pg_env("fleet"), CAST_DATA_DIR=str(data_dir))
        instance = dg.DagsterInstance.get()
        try:
            redis.start()
            wait_for_redis(port)
            items = [SpeechItem(f"e{i:04d}", f"Episode {i:04d}", audio=clip) for i in range(n)]
            started = time.monotonic()
            keys = prepare_episodes(http, items, instance, data_dir)
            print(
                f"{n} episodes of {clip.name} ({(clip.stat().st_size - 44) / 32000:.1f} s), tiny.en on CPU, "
                f"CAST_EPISODES_PER_RUN={per_run} ({-(-n // per_run)} runs), {workers} workers, "
                f"max_concurrent_runs {max_runs}, pool {QUEUE}={workers}; measured under load (2 shared cores)"
            )
            print(
                f"  untimed: feed + episodes_job (audio) of {n} episodes in-process {time.monotonic() - started:.1f} s"
            )
            for i in range(workers):
                services.append(worker(f"w{i + 1}", QUEUE, env, root))
                services[-1].start()
            for w in services:
                wait_for(lambda w=w: worker_ready(w), 180, f"{w.name} ready")
            instance.event_log_storage.set_concurrency_slots(QUEUE, workers)
            side = server(server_env(env, per_run), root, backfill_interval)
            services += side.services
            side.start_locations()
            stop_new_audio_sensor(instance, side.workspace)
            side.daemon.start()
            wait_for(lambda: "BACKFILL" in instance.get_daemon_heartbeats(), 180, "the daemon's backfill loop")
            created = time.time()
            add_backfill(instance, side.workspace, BACKFILL_ID, keys, SPEECH, f"bench: {n} episodes")

            ended_at: dict[str, float] = {}

            def finished() -> bool:
                """COMPLETED_SUCCESS, or a failed end that resume_failed_backfills (about 25 s) did not pick up."""
                if not side.daemon.alive():
                    raise AssertionError(f"the daemon exited:\n{side.daemon.tail()}")
                chain = backfill_chain(instance, BACKFILL_ID)
                if not chain or chain[-1].status not in DONE:
                    return False
                ended_at.setdefault(chain[-1].backfill_id, time.time())
                return chain[-1].status == BulkActionStatus.COMPLETED_SUCCESS or (
                    time.time() - ended_at[chain[-1].backfill_id] > 90
                )

            wait_for(finished, 3600, f"the backfill, see {root}", every=2)
            done = ended_at[backfill_chain(instance, BACKFILL_ID)[-1].backfill_id]
            time.sleep(1)
            report(instance, DataPaths(data_dir), keys, created, done)
        finally:
            for service in services:
                service.kill()
            redis.kill()
            http.stop()
            instance.dispose()
    shutil.rmtree(root, ignore_errors=True)
