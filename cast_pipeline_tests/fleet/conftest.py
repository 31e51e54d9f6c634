"""One fleet for every fleet test: Redis, a PostgreSQL cluster of its own, two workers, served episodes.

Package scope: test_fleet.py (runs as ``dagster job execute`` processes) and test_fleet_daemon.py (a
backfill through a real ``dagster-daemon``) share the processes, which are the costly part. The whole
package is one xdist group (cast_pipeline_tests/conftest.py), so they run in one pytest process.

PostgreSQL is a cluster of the fleet's own (initdb + pg_ctl on a free port in a temp dir), not a
database of the shared server: the daemon test stops and starts it mid-backfill, which must disturb
no other test. The instance is deploy/dagster.yaml on it; Redis is this suite's own server with
persistence on (append-only file, as the fleet's Redis config); each ``cast-pipeline worker --queue
speech-cpu`` runs in its own session, directory and environment (its own CAST_WORKER_NAME). Audio:
11 s of real speech per episode, tiny.en on the CPU.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pytest

from cast_pipeline.defs.speech.keys import CPU, speech_key
from cast_pipeline.paths import DataPaths
from cast_pipeline_tests.conftest import require_shared
from cast_pipeline_tests.defs.speech.speechkit import SpeechItem
from cast_pipeline_tests.deploy.recoverykit import PrivateCluster, Service, postgres_bin, wait_for
from cast_pipeline_tests.fleet.fleetkit import (
    REDIS_PORTS,
    instance_env,
    launch_run,
    prepare_episodes,
    private_cluster,
    redis_server,
    run_of,
    wait_for_redis,
    worker,
    worker_ready,
)
from cast_pipeline_tests.httpserver import LocalHTTPServer

JOB = "transcribe_cpu_job"
SPEECH = speech_key(CPU)
QUEUE = "speech-cpu"
LOST_AFTER = 10  # CAST_CELERY_WORKER_LOST_SECONDS for the tests (120 s in production)
EPISODES = 8  # test_fleet.py's
BACKFILL_EPISODES = 8  # test_fleet_daemon.py's, transcribed by a backfill


@dataclass
class Fleet:
    instance: dg.DagsterInstance
    env: dict[str, str]
    root: Path
    paths: DataPaths
    redis: Service
    port: int
    workers: dict[str, Service]
    postgres: PrivateCluster
    episodes: list[str] = field(default_factory=list)
    backfill_episodes: list[str] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)  # others a test started, in its logs

    def logs(self) -> str:
        runs = "".join(
            f"--- {p.name} ---\n{p.read_text(errors='replace')[-3000:]}\n" for p in self.root.glob("run-*.log")
        )
        others = [*self.workers.values(), *self.services]
        return runs + "".join(f"--- {w.name} ---\n{w.tail(3000)}\n" for w in others)

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


def private_postgres() -> contextlib.AbstractContextManager[PrivateCluster]:
    """A started PostgreSQL cluster of the fleet's own with a database ``fleet`` (fleetkit.private_cluster)."""
    bindir = postgres_bin()
    if bindir is None or (shutil.which("runuser") is None and os.geteuid() == 0):
        if os.environ.get("CI") == "true":
            pytest.fail("initdb/pg_ctl (apt postgresql) needed under CI")
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed")
    return private_cluster(bindir, "fleet")


@pytest.fixture(scope="package")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    shared = require_shared()
    root = tmp_path_factory.mktemp("fleet")
    data_dir = root / "data"
    port = REDIS_PORTS[0]
    redis = redis_server(port, root, persist=True)
    http = LocalHTTPServer().start()
    workers: dict[str, Service] = {}
    with pytest.MonkeyPatch.context() as mp, private_postgres() as pg:
        env = instance_env(root, pg.pg_env("fleet"), f"redis://127.0.0.1:{port}/0")
        env.update(CAST_CELERY_WORKER_LOST_SECONDS=str(LOST_AFTER), CAST_DATA_DIR=str(data_dir))
        env["CAST_FEEDS_FILE"] = str(root / "feeds.yaml")
        for key in ("DAGSTER_HOME", "DAGSTER_COMPUTE_LOG_DIR", "DAGSTER_ARTIFACT_DIR", "CAST_DATA_DIR"):
            mp.setenv(key, env[key])
        for key, value in pg.pg_env("fleet").items():
            mp.setenv(key, value)
        jfk = shared / "audio" / "jfk.wav"
        items = [SpeechItem(f"jfk{i:02d}", f"JFK {i:02d}", audio=jfk) for i in range(EPISODES + BACKFILL_EPISODES)]
        instance = dg.DagsterInstance.get()  # creates the schema before the other processes connect
        fleet = Fleet(instance, env, root, DataPaths(data_dir), redis, port, workers, pg)
        try:
            redis.start()
            wait_for_redis(port)
            for name in ("alpha", "beta"):
                workers[name] = worker(name, QUEUE, env, root)
                workers[name].start()
            keys = prepare_episodes(http, items, instance, data_dir)  # the core side: feed, episodes, audio
            fleet.episodes, fleet.backfill_episodes = keys[:EPISODES], keys[EPISODES:]
            # the per-queue limit (deploy/dagster.yaml's default_limit would be 1): one speech step per worker
            instance.event_log_storage.set_concurrency_slots(QUEUE, 2)
            yield fleet
        finally:
            for service in [*workers.values(), *fleet.services]:
                service.kill()  # the whole group at once: a warm shutdown would wait for Celery's goodbyes
            redis.kill()
            http.stop()
            instance.dispose()
