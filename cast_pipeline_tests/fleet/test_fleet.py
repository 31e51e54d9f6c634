"""The transcription fleet with real parts: Redis, PostgreSQL, two Celery workers as separate "hosts".

The instance is deploy/dagster.yaml on a throwaway PostgreSQL database; Redis is this suite's own
server; each ``cast-pipeline worker --queue speech-cpu`` runs in its own session, directory and
environment; runs of the ``fleet`` location are ``dagster job execute`` processes (the orchestrator the
server would start). Audio: 11 s of real speech, tiny.en on the CPU. Timings are printed (``-s``).
"""

from __future__ import annotations

import os
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
from cast_pipeline_tests.defs.speech.speechkit import SpeechItem, register_feed, run_range, serve_speech_feed
from cast_pipeline_tests.deploy.recoverykit import Service, wait_for
from cast_pipeline_tests.fleet.fleetkit import (
    REDIS_PORTS,
    engine_messages,
    fleet_database,
    instance_env,
    launch_run,
    materializations,
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
LOST_AFTER = 10  # CAST_CELERY_WORKER_LOST_SECONDS for the test (120 s in production)


@dataclass
class Fleet:
    instance: dg.DagsterInstance
    env: dict[str, str]
    root: Path
    paths: DataPaths
    episodes: list[str]
    workers: dict[str, Service]

    def logs(self) -> str:
        runs = "".join(
            f"--- {p.name} ---\n{p.read_text(errors='replace')[-3000:]}\n" for p in self.root.glob("run-*.log")
        )
        return runs + "".join(f"--- {w.name} ---\n{w.tail(3000)}\n" for w in self.workers.values())

    def run(self, keys: list[str]) -> tuple[str, object]:
        marker = uuid.uuid4().hex[:8]
        return marker, launch_run(JOB, keys, self.env, self.root, marker)

    def finish(self, marker: str, proc: object, timeout: float = 150) -> dg.DagsterRun:
        wait_for(lambda: proc.poll() is not None, timeout, f"run {marker}\n{self.logs()}")  # type: ignore[attr-defined]
        run = run_of(self.instance, marker)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS, f"run {marker}: {run}\n{self.logs()}"
        return run


@pytest.fixture
def fleet(
    tmp_path: Path, data_dir: Path, http_server: LocalHTTPServer, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Fleet]:
    port = REDIS_PORTS[0]
    redis = redis_server(port, tmp_path)
    workers: dict[str, Service] = {}
    with fleet_database() as pg:
        env = instance_env(tmp_path, pg, f"redis://127.0.0.1:{port}/0")
        env["CAST_CELERY_WORKER_LOST_SECONDS"] = str(LOST_AFTER)
        for key in ("DAGSTER_HOME", "DAGSTER_COMPUTE_LOG_DIR", "DAGSTER_ARTIFACT_DIR", *pg):
            monkeypatch.setenv(key, env[key])
        env["CAST_DATA_DIR"] = str(data_dir)
        jfk = shared_data / "audio" / "jfk.wav"
        url = serve_speech_feed(http_server, [SpeechItem(f"jfk{i}", f"JFK {i}", audio=jfk) for i in range(4)])
        instance = dg.DagsterInstance.get()  # creates the schema before the other processes connect
        try:
            redis.start()
            wait_for_redis(port)
            for name in ("alpha", "beta"):
                workers[name] = worker(name, "speech-cpu", env, tmp_path)
                workers[name].start()
            # the core side, in this process: feed, episodes, audio
            keys = sorted(register_feed(core.defs, instance, url, data_dir).values())
            assert run_range(core.defs, "episodes_job", instance, keys).success
            # the per-queue limit (deploy/dagster.yaml's default_limit would be 1): one speech step per worker
            instance.event_log_storage.set_concurrency_slots("speech-cpu", 2)
            for w in workers.values():
                wait_for(lambda w=w: worker_ready(w), 90, f"{w.name} ready")
            yield Fleet(instance, env, tmp_path, DataPaths(data_dir), keys, workers)
        finally:
            for w in workers.values():
                w.kill()  # the whole group at once: a warm shutdown would wait for Celery's goodbyes
            redis.kill()
            instance.dispose()


def test_runs_spread_over_the_workers_and_record_who_ran_each_episode(fleet: Fleet) -> None:
    started = time.monotonic()
    first, second = fleet.run(fleet.episodes[:2]), fleet.run(fleet.episodes[2:])
    for marker, proc in (first, second):
        fleet.finish(marker, proc)
    print(f"\n4 episodes in 2 runs on 2 workers: {time.monotonic() - started:.1f} s")
    by_worker: dict[str, set[int]] = {}
    for key in fleet.episodes:
        [meta] = materializations(fleet.instance, SPEECH, key)  # once, not twice
        assert meta["status"] == "transcribed" and meta["queue"] == "speech-cpu" and meta["host"]
        by_worker.setdefault(meta["worker"], set()).add(meta["pid"])
        assert fleet.paths.episode_file(key, speech_file(CPU)).exists()
    assert set(by_worker) == {"alpha@alpha-host", "beta@beta-host"}, by_worker
    assert all(len(pids) == 1 for pids in by_worker.values())  # each worker: one process, one model load


def test_a_killed_worker_step_is_resubmitted_to_a_live_one_and_nothing_is_done_twice(fleet: Fleet) -> None:
    keys = fleet.episodes
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
    metas = {key: materializations(fleet.instance, SPEECH, key) for key in keys}
    assert all(len(m) == 1 for m in metas.values()), metas  # each episode recorded once
    assert metas[keys[0]][0]["status"] == "reused"  # finished by the killed worker: not transcribed again
    for key in keys[1:]:
        assert metas[key][0]["worker"] == f"{survivor}@{survivor}-host", metas[key]
    assert os.path.getsize(first_file) > 0
