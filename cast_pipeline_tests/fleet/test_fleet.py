"""The transcription fleet with real parts: Redis, PostgreSQL, Celery workers as separate "hosts".

The instance is deploy/dagster.yaml on a throwaway PostgreSQL database; Redis is this suite's own
server, with persistence on (append-only file, as the fleet's Redis config); each ``cast-pipeline
worker --queue speech-cpu`` runs in its own session, directory and environment (its own
CAST_WORKER_NAME); runs of the ``fleet`` location are ``dagster job execute`` processes (the
orchestrator the server would start). Audio: 11 s of real speech, tiny.en on the CPU. One set of
processes serves the whole module (each test (re)starts the workers it needs); timings are printed (``-s``).
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from cast_pipeline.defs.speech.keys import CPU, speech_key
from cast_pipeline.locations import core
from cast_pipeline.paths import DataPaths
from cast_pipeline.segments import segments_from_json
from cast_pipeline.transcripts.store import speech_file
from cast_pipeline_tests.conftest import require_shared
from cast_pipeline_tests.defs.speech.speechkit import SpeechItem, register_feed, run_range, serve_speech_feed
from cast_pipeline_tests.deploy.deploykit import throwaway_database
from cast_pipeline_tests.deploy.recoverykit import Service, wait_for
from cast_pipeline_tests.fleet.fleetkit import (
    REDIS_PORTS,
    engine_messages,
    instance_env,
    launch_run,
    redis_server,
    run_of,
    wait_for_redis,
    worker,
    worker_ready,
)
from cast_pipeline_tests.httpserver import LocalHTTPServer

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
JOB = "transcribe_cpu_job"
SPEECH = speech_key(CPU)
QUEUE = "speech-cpu"
LOST_AFTER = 10  # CAST_CELERY_WORKER_LOST_SECONDS for the test (120 s in production)
EPISODES = 8
BROKER_DOWN = 60  # seconds without Redis for a running worker: the "loses the broker for a minute"


@dataclass
class Fleet:
    instance: dg.DagsterInstance
    env: dict[str, str]
    root: Path
    paths: DataPaths
    episodes: list[str]
    redis: Service
    port: int
    workers: dict[str, Service]

    def logs(self) -> str:
        runs = "".join(
            f"--- {p.name} ---\n{p.read_text(errors='replace')[-3000:]}\n" for p in self.root.glob("run-*.log")
        )
        return runs + "".join(f"--- {w.name} ---\n{w.tail(3000)}\n" for w in self.workers.values())

    def start_workers(self, *names: str) -> None:
        for name in names:
            if name not in self.workers or not self.workers[name].alive():
                self.workers[name] = worker(name, QUEUE, self.env, self.root)
                self.workers[name].start()
        for name in names:
            w = self.workers[name]
            wait_for(lambda w=w: worker_ready(w), 90, f"{w.name} ready")

    def run(self, keys: list[str]) -> tuple[str, subprocess.Popen[bytes]]:
        marker = uuid.uuid4().hex[:8]
        return marker, launch_run(JOB, keys, self.env, self.root, marker)

    def finish(self, marker: str, proc: subprocess.Popen[bytes], timeout: float = 150) -> dg.DagsterRun:
        wait_for(lambda: proc.poll() is not None, timeout, f"run {marker}\n{self.logs()}")
        run = run_of(self.instance, marker)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS, f"run {marker}: {run}\n{self.logs()}"
        return run

    def recorded(self, run_id: str, key: str) -> list[dict]:
        """The speech materialisations of ``key`` recorded by run ``run_id``."""
        records = self.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=SPEECH, asset_partitions=[key]), limit=100
        ).records
        return [
            {k: v.value for k, v in r.asset_materialization.metadata.items()}  # type: ignore[union-attr]
            for r in records
            if r.run_id == run_id
        ]

    def queued(self) -> int:
        import redis

        client = redis.Redis(port=self.port, socket_timeout=2)
        # kombu keeps one list per priority step: speech-cpu, speech-cpu\x06\x163, ...
        return sum(int(client.llen(k)) for k in client.keys(f"{QUEUE}*") if client.type(k) == b"list")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    shared = require_shared()
    root = tmp_path_factory.mktemp("fleet")
    data_dir = root / "data"
    port = REDIS_PORTS[0]
    redis = redis_server(port, root, persist=True)
    http = LocalHTTPServer().start()
    workers: dict[str, Service] = {}
    with pytest.MonkeyPatch.context() as mp, throwaway_database("fleet") as pg:
        env = instance_env(root, pg, f"redis://127.0.0.1:{port}/0")
        env.update(CAST_CELERY_WORKER_LOST_SECONDS=str(LOST_AFTER), CAST_DATA_DIR=str(data_dir))
        env["CAST_FEEDS_FILE"] = str(root / "feeds.yaml")
        for key in ("DAGSTER_HOME", "DAGSTER_COMPUTE_LOG_DIR", "DAGSTER_ARTIFACT_DIR", "CAST_DATA_DIR", *pg):
            mp.setenv(key, env[key])
        jfk = shared / "audio" / "jfk.wav"
        url = serve_speech_feed(http, [SpeechItem(f"jfk{i}", f"JFK {i}", audio=jfk) for i in range(EPISODES)])
        instance = dg.DagsterInstance.get()  # creates the schema before the other processes connect
        fleet = Fleet(instance, env, root, DataPaths(data_dir), [], redis, port, workers)
        try:
            redis.start()
            wait_for_redis(port)
            for name in ("alpha", "beta"):
                workers[name] = worker(name, QUEUE, env, root)
                workers[name].start()
            # the core side, in this process: feed, episodes, audio
            fleet.episodes = sorted(register_feed(core.defs, instance, url, data_dir).values())
            assert run_range(core.defs, "episodes_job", instance, fleet.episodes).success
            # the per-queue limit (deploy/dagster.yaml's default_limit would be 1): one speech step per worker
            instance.event_log_storage.set_concurrency_slots(QUEUE, 2)
            yield fleet
        finally:
            for w in workers.values():
                w.kill()  # the whole group at once: a warm shutdown would wait for Celery's goodbyes
            redis.kill()
            http.stop()
            instance.dispose()


def test_runs_spread_over_the_workers_and_record_who_ran_each_episode(fleet: Fleet) -> None:
    fleet.start_workers("alpha", "beta")
    keys = fleet.episodes[:4]
    started = time.monotonic()
    runs = [fleet.run(keys[:2]), fleet.run(keys[2:])]
    done = [fleet.finish(marker, proc) for marker, proc in runs]
    print(f"\n4 episodes in 2 runs on 2 workers: {time.monotonic() - started:.1f} s")
    by_worker: dict[str, set[int]] = {}
    for run, part in zip(done, (keys[:2], keys[2:]), strict=True):
        for key in part:
            [meta] = fleet.recorded(run.run_id, key)  # once, not twice
            assert meta["status"] == "transcribed" and meta["queue"] == QUEUE and meta["host"]
            by_worker.setdefault(meta["worker"], set()).add(meta["pid"])
            assert fleet.paths.episode_file(key, speech_file(CPU)).exists()
    assert set(by_worker) == {"alpha@alpha-host", "beta@beta-host"}, by_worker
    assert all(len(pids) == 1 for pids in by_worker.values())  # each worker: one process, one model load


def test_queued_work_survives_a_redis_restart_and_a_worker_rides_out_a_broker_outage(fleet: Fleet) -> None:
    for w in fleet.workers.values():
        w.kill()  # no worker: the step waits in Redis
    first = second = fleet.episodes[4]  # the second run reuses the first's result: only delivery is tested
    marker, proc = fleet.run([first])
    wait_for(lambda: fleet.queued() == 1, 90, f"the step queued in Redis\n{fleet.logs()}")
    fleet.redis.kill()  # kill -9 of Redis, restarted: the append-only file brings the queue back
    fleet.redis.start()
    wait_for_redis(fleet.port)
    assert fleet.queued() == 1
    fleet.start_workers("alpha")
    run = fleet.finish(marker, proc)
    [meta] = fleet.recorded(run.run_id, first)
    assert meta["worker"] == "alpha@alpha-host"

    pid = fleet.workers["alpha"].pid
    fleet.redis.kill()  # the broker gone while the worker idles; the worker keeps retrying
    time.sleep(BROKER_DOWN)
    assert fleet.workers["alpha"].alive()
    fleet.redis.start()
    wait_for_redis(fleet.port)
    back = time.monotonic()
    marker, proc = fleet.run([second])
    run = fleet.finish(marker, proc)
    print(f"\nafter {BROKER_DOWN} s without Redis: next run done {time.monotonic() - back:.1f} s after it was back")
    assert len(fleet.recorded(run.run_id, second)) == 1
    ran_on = [m for m in engine_messages(fleet.instance, run.run_id) if "in celery worker" in m]
    assert ran_on and all("alpha@alpha-host" in m for m in ran_on), ran_on
    assert fleet.workers["alpha"].pid == pid  # the same worker process, reconnected


def test_a_killed_worker_step_is_resubmitted_to_a_live_one_and_nothing_is_done_twice(fleet: Fleet) -> None:
    fleet.start_workers("alpha", "beta")
    keys = fleet.episodes[5:]
    marker, proc = fleet.run(keys)
    first_file = fleet.paths.episode_file(keys[0], speech_file(CPU))

    def busy_worker() -> str | None:
        """The worker that wrote the first episode's result (its name is in the file), once it exists."""
        if not first_file.exists():
            return None
        _, meta = segments_from_json(first_file.read_bytes())
        return str(meta["worker"]).split("@")[0]

    victim = wait_for(busy_worker, 150, f"the first episode's result\n{fleet.logs()}", every=0.1)
    fleet.workers[victim].kill()  # kill -9 of the worker and its children: the machine is gone
    killed = time.monotonic()
    run = fleet.finish(marker, proc, timeout=180)
    print(f"\nworker {victim} killed mid-batch: run succeeded {time.monotonic() - killed:.1f} s later")
    assert any("has not answered" in m for m in engine_messages(fleet.instance, run.run_id)), fleet.logs()
    survivor = next(n for n in fleet.workers if n != victim)
    metas = {key: fleet.recorded(run.run_id, key) for key in keys}
    assert all(len(m) == 1 for m in metas.values()), metas  # each episode recorded once
    assert metas[keys[0]][0]["status"] == "reused"  # finished by the killed worker: not transcribed again
    for key in keys[1:]:
        assert metas[key][0]["worker"] == f"{survivor}@{survivor}-host", metas[key]
    assert os.path.getsize(first_file) > 0
