"""Throughput of the transcription fleet with 1, 2 and 3 CPU workers, its per-episode overhead, its recovery.

Run by hand (not a test):  .venv/bin/python bench/bench_fleet.py [--episodes 24] [--chunk 4]
Or a backfill through the real daemon (bench_fleet_backfill.py):
                           .venv/bin/python bench/bench_fleet.py --daemon-backfill 400 [--per-run 25]

Real parts, as in cast_pipeline_tests/fleet/test_fleet.py: a private Redis (port 6392), a throwaway
PostgreSQL database (fleet_*), `cast-pipeline worker --queue speech-cpu` processes, the runs as
`dagster job execute` processes of the fleet location; N copies of an 11 s real-speech clip, tiny.en.

1. throughput: the same N episodes, in runs of --chunk episodes launched together (as a backfill's
   runs are), on 1, 2 and 3 warm workers (pool limit = workers); speech files deleted between rounds;
2. overhead: one run of all N episodes on 1 warm worker vs the in-process path (the laptop's
   `transcribe_job` of cast_pipeline.definitions, one `dagster job execute`), per episode;
3. recovery: 2 workers, one run of N episodes, the busy worker killed (SIGKILL of its process group)
   after its first episode: time until the step runs again elsewhere and until the run succeeds
   (CAST_CELERY_WORKER_LOST_SECONDS=10 here; production default 120 s adds ~110 s).
The machine is shared (2 cores, other jobs): the figures are measured under load; compare ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from cast_pipeline.defs.speech.keys import CPU, LOCAL
from cast_pipeline.paths import DataPaths
from cast_pipeline.segments import segments_from_json
from cast_pipeline.transcripts.store import speech_file
from cast_pipeline_tests.conftest import SHARED_DATA
from cast_pipeline_tests.defs.speech.speechkit import SpeechItem
from cast_pipeline_tests.deploy.deploykit import throwaway_database
from cast_pipeline_tests.deploy.recoverykit import BIN, wait_for
from cast_pipeline_tests.fleet.fleetkit import (
    REDIS_PORTS,
    instance_env,
    launch_run,
    prepare_episodes,
    redis_server,
    run_of,
    wait_for_redis,
    worker,
    worker_ready,
)
from cast_pipeline_tests.httpserver import LocalHTTPServer

JOB = "transcribe_cpu_job"


def _clear(paths: DataPaths, keys: list[str]) -> None:
    for key in keys:
        for prefix in (CPU, LOCAL):
            paths.episode_file(key, speech_file(prefix)).unlink(missing_ok=True)


def _runs(env: dict, root: Path, instance: dg.DagsterInstance, chunks: list[list[str]]) -> float:
    started = time.monotonic()
    procs = [(f"b{time.monotonic_ns()}-{i}", chunk) for i, chunk in enumerate(chunks)]
    launched = [(marker, launch_run(JOB, chunk, env, root, marker)) for marker, chunk in procs]
    for marker, proc in launched:
        proc.wait(timeout=1800)
        run = run_of(instance, marker)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS, f"run {marker} failed, see {root}"
    return time.monotonic() - started


SPEECH_STEP = "cpu__speech_transcript"


def _events(instance: dg.DagsterInstance, run_id: str) -> list[tuple[float, str, str]]:
    """(time, event type, message with its step key) of the run's engine and step events."""
    found = []
    for kind in (dg.DagsterEventType.ENGINE_EVENT, dg.DagsterEventType.STEP_SUCCESS):
        for record in instance.get_records_for_run(run_id, of_type=kind).records:
            entry = record.event_log_entry
            message = entry.dagster_event.message if entry.dagster_event else ""
            found.append((entry.timestamp, kind.value, f"{message or ''} [{entry.step_key}]"))
    return sorted(found)


def _end(instance: dg.DagsterInstance, run_id: str) -> float:
    record = instance.get_run_record_by_id(run_id)
    assert record is not None and record.end_time is not None
    return record.end_time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=24)
    parser.add_argument("--chunk", type=int, default=4)
    parser.add_argument("--daemon-backfill", type=int, metavar="N", help="one backfill of N episodes instead")
    parser.add_argument("--per-run", type=int, default=25, help="CAST_EPISODES_PER_RUN of the backfill")
    parser.add_argument("--workers", type=int, default=3, help="speech-cpu workers for the backfill")
    parser.add_argument("--max-runs", type=int, default=8, help="max_concurrent_runs (deploy/dagster.yaml: 8)")
    parser.add_argument("--backfill-interval", type=int, help="daemon's backfill loop, s (default Dagster's 30)")
    args = parser.parse_args()
    if args.daemon_backfill:
        from bench_fleet_backfill import daemon_backfill

        daemon_backfill(args.daemon_backfill, args.per_run, args.workers, args.max_runs, args.backfill_interval)
        return
    n = args.episodes
    root = Path(tempfile.mkdtemp(prefix="bench_fleet_"))
    port = REDIS_PORTS[1]
    redis = redis_server(port, root)
    http = LocalHTTPServer().start()
    workers = []
    with throwaway_database("fleet") as pg:
        env = instance_env(root, pg, f"redis://127.0.0.1:{port}/0")
        env.update(CAST_DATA_DIR=str(root / "data"), CAST_CELERY_WORKER_LOST_SECONDS="10", CAST_SPEECH_DEVICE="cpu")
        os.environ.update({k: env[k] for k in ("DAGSTER_HOME", "DAGSTER_COMPUTE_LOG_DIR", "DAGSTER_ARTIFACT_DIR", *pg)})
        os.environ["CAST_DATA_DIR"] = env["CAST_DATA_DIR"]
        instance = dg.DagsterInstance.get()
        try:
            redis.start()
            wait_for_redis(port)
            jfk = SHARED_DATA / "audio" / "jfk.wav"
            items = [SpeechItem(f"c{i:03d}", f"Clip {i}", audio=jfk) for i in range(n)]
            keys = prepare_episodes(http, items, instance, root / "data")
            paths = DataPaths(root / "data")
            chunks = [keys[i : i + args.chunk] for i in range(0, n, args.chunk)]
            print(
                f"{n} episodes of 11 s, runs of {args.chunk} ({len(chunks)} runs), tiny.en on CPU; measured under load"
            )
            results: dict[int, float] = {}
            for count in (1, 2, 3):
                while len(workers) < count:
                    w = worker(f"w{len(workers) + 1}", "speech-cpu", env, root)
                    w.start()
                    workers.append(w)
                for w in workers:
                    wait_for(lambda w=w: worker_ready(w), 120, f"{w.name} ready")
                instance.event_log_storage.set_concurrency_slots("speech-cpu", count)
                _clear(paths, keys[:count])  # warm every worker's child (imports, model load): one episode each
                _runs(env, root, instance, [[k] for k in keys[:count]])
                _clear(paths, keys)
                results[count] = _runs(env, root, instance, chunks)
                print(
                    f"  {count} worker(s): {results[count]:6.1f} s, {n / results[count] * 60:5.1f} episodes/min, "
                    f"speed-up {results[1] / results[count]:.2f}x"
                )
            for w in workers[1:]:
                w.kill()
            workers = workers[:1]
            instance.event_log_storage.set_concurrency_slots("speech-cpu", 1)
            _clear(paths, keys)
            marker = f"one{time.monotonic_ns()}"
            started = time.monotonic()
            proc = launch_run(JOB, keys, env, root, marker)
            proc.wait(timeout=1800)
            celery = time.monotonic() - started
            one = run_of(instance, marker)
            assert one is not None and one.status == dg.DagsterRunStatus.SUCCESS
            events = _events(instance, one.run_id)
            submitted = min(t for t, _, m in events if "Celery task " in m and SPEECH_STEP in m)
            executing = min(t for t, _, m in events if f"Executing step {SPEECH_STEP}" in m)
            finished = min(t for t, kind, m in events if kind == "STEP_SUCCESS" and SPEECH_STEP in m)
            next_step = min(t for t, _, m in events if "Celery task " in m and SPEECH_STEP not in m)
            _clear(paths, keys)
            inproc_env = dict(env)
            tags = {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}
            started = time.monotonic()
            subprocess.run(
                [
                    str(BIN / "dagster"),
                    "job",
                    "execute",
                    "-m",
                    "cast_pipeline.definitions",
                    "-j",
                    "transcribe_job",
                    "--tags",
                    json.dumps(tags),
                ],
                env=inproc_env,
                cwd=root,
                check=True,
                capture_output=True,
                timeout=1800,
            )
            inproc = time.monotonic() - started
            print(
                f"one run of {n} episodes: fleet (1 warm worker) {celery:.1f} s, in-process {inproc:.1f} s; "
                f"difference {(celery - inproc) / n:+.2f} s per episode"
            )
            print(
                f"  Celery path per step: submitted -> running on the worker {executing - submitted:.2f} s, "
                f"step success -> next step submitted {next_step - finished:.2f} s "
                f"(per episode in a {n}-episode step: {(executing - submitted + next_step - finished) / n:.2f} s)"
            )
            # recovery
            second = worker("w2", "speech-cpu", env, root)
            second.start()
            workers.append(second)
            wait_for(lambda: worker_ready(second), 120, "w2 ready")
            instance.event_log_storage.set_concurrency_slots("speech-cpu", 2)
            _clear(paths, keys)
            marker = f"kill{time.monotonic_ns()}"
            proc = launch_run(JOB, keys, env, root, marker)
            first = paths.episode_file(keys[0], speech_file(CPU))
            wait_for(first.exists, 600, "first episode", every=0.1)
            victim = str(segments_from_json(first.read_bytes())[1]["worker"]).split("@")[0]
            by_name = {w.name.removeprefix("worker-"): w for w in workers}
            by_name[victim].kill()
            killed = time.time()
            proc.wait(timeout=1800)
            run = run_of(instance, marker)
            assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
            events = _events(instance, run.run_id)
            lost = min(t for t, _, m in events if "has not answered" in m)
            resumed = min(t for t, _, m in events if f"Executing step {SPEECH_STEP} in celery" in m and victim not in m)
            print(
                f"worker killed after its first episode: seen lost {lost - killed:.1f} s later (after 10 s of silence "
                f"here, 120 s by default), step running on the other worker {resumed - killed:.1f} s after the kill, "
                f"run succeeded {_end(instance, run.run_id) - killed:.1f} s after the kill"
            )
        finally:
            for w in workers:
                w.kill()
            redis.kill()
            http.stop()
            instance.dispose()
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
