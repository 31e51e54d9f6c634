"""Real processes of the fleet for its tests and benchmark: Redis, PostgreSQL database, workers, runs.

Each worker is a ``cast-pipeline worker`` process in its own session, working directory and
environment (its own CAST_WORKER_NAME), as if on its own host; a kill reaches its Celery children too,
like a machine that dies. :func:`launch_run` starts a run as a ``dagster job execute`` process (the
orchestrating run worker of the fleet location, as the server would start it); test_fleet_daemon.py
has the real daemon start them instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from cast_pipeline.defs.feeds.partitions import EPISODES as EPISODES_PARTITIONS
from cast_pipeline.locations import core
from cast_pipeline_tests.defs.speech.speechkit import SpeechItem, register_feed, run_range, serve_speech_feed
from cast_pipeline_tests.deploy.deploykit import DAGSTER_YAML
from cast_pipeline_tests.deploy.recoverykit import BIN, PrivateCluster, Service, wait_for
from cast_pipeline_tests.httpserver import LocalHTTPServer

REDIS_PORTS = (6391, 6392, 6393, 6394)  # this suite's own Redis servers (never the shared 6379)


def redis_server(port: int, workdir: Path, persist: bool = False) -> Service:
    data = workdir / f"redis-{port}"
    data.mkdir(parents=True, exist_ok=True)
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data)]
    argv += ["--appendonly", "yes", "--appendfsync", "always"] if persist else ["--save", "", "--appendonly", "no"]
    return Service(f"redis-{port}", argv, os.environ, workdir)


@contextlib.contextmanager
def private_cluster(bindir: Path, database: str) -> Iterator[PrivateCluster]:
    """A started PostgreSQL cluster of the fleet's own with ``database``; removed afterwards.

    Its own, not a database of the shared server: the daemon test stops and starts it, and a backfill's
    many runs open many connections (max_connections 200 here).
    """
    root = Path(tempfile.mkdtemp(prefix="cast-fleet-pg-"))  # not under pytest's 0700 tmp: postgres owns it
    cluster = PrivateCluster(bindir, root)
    try:
        cluster.init()
        cluster.start()
        cluster.create_database(database)
        yield cluster
    finally:
        with contextlib.suppress(AssertionError):  # already stopped
            cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def prepare_episodes(
    http: LocalHTTPServer, items: Sequence[SpeechItem], instance: dg.DagsterInstance, data_dir: Path
) -> list[str]:
    """The core side's share, in this process: serve the feed, register it, and run ``episodes_job``
    (metadata, audio...) over every episode, so the fleet's speech steps find their audio.

    Returns the episode keys in partition order, so a slice is a partition range.
    """
    url = serve_speech_feed(http, items)
    register_feed(core.defs, instance, url, data_dir)
    keys = instance.get_dynamic_partitions(EPISODES_PARTITIONS)
    assert len(keys) == len(items), f"{len(keys)} episode partitions for {len(items)} items"
    assert run_range(core.defs, "episodes_job", instance, keys).success, "episodes_job (audio) failed"
    return keys


def wait_for_redis(port: int, timeout: float = 30) -> None:
    import redis

    def up() -> bool:
        with contextlib.suppress(redis.exceptions.ConnectionError):
            return bool(redis.Redis(port=port, socket_timeout=1).ping())
        return False

    wait_for(up, timeout, f"redis on port {port}", every=0.2)


def instance_env(root: Path, pg: Mapping[str, str], broker: str) -> dict[str, str]:
    """The environment every fleet process shares: instance (deploy/dagster.yaml on PostgreSQL), broker, data."""
    home = root / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(DAGSTER_YAML, home / "dagster.yaml")
    return {
        **os.environ,
        **pg,
        "DAGSTER_HOME": str(home),
        "DAGSTER_COMPUTE_LOG_DIR": str(root / "shared" / "dagster" / "compute_logs"),
        "DAGSTER_ARTIFACT_DIR": str(root / "shared" / "dagster" / "artifacts"),
        "CAST_CELERY_BROKER_URL": broker,
        "HF_HUB_OFFLINE": "1",
        "CAST_SPEECH_MODEL": "tiny.en",
        "CAST_DIARIZATION": "off",
    }


def worker(name: str, queue: str, env: Mapping[str, str], root: Path, concurrency: int = 1) -> Service:
    """``cast-pipeline worker`` as on its own host: own working directory and CAST_WORKER_NAME."""
    host = root / name
    host.mkdir(parents=True, exist_ok=True)
    argv = [str(BIN / "cast-pipeline"), "worker", "--queue", queue, "--concurrency", str(concurrency)]
    return Service(f"worker-{name}", argv, {**env, "CAST_WORKER_NAME": f"{name}@{name}-host"}, host)


def worker_ready(service: Service) -> bool:
    if not service.alive():
        raise AssertionError(f"{service.name} exited:\n{service.tail()}")
    return service.log.exists() and " ready." in service.log.read_text(errors="replace")


def launch_run(job: str, keys: list[str], env: Mapping[str, str], root: Path, run_id: str) -> subprocess.Popen[bytes]:
    """``dagster job execute`` of the fleet location over the range ``keys[0]..keys[-1]``: the run's orchestrator."""
    tags = {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1], "fleet-test-run": run_id}
    argv = [str(BIN / "dagster"), "job", "execute", "-m", "cast_pipeline.locations.fleet", "-j", job]
    log = (root / f"run-{run_id}.log").open("ab")
    return subprocess.Popen(
        [*argv, "--tags", json.dumps(tags)], env=dict(env), cwd=root, stdout=log, stderr=subprocess.STDOUT
    )


def run_of(instance: dg.DagsterInstance, marker: str) -> dg.DagsterRun | None:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"fleet-test-run": marker}))
    return runs[0] if runs else None


def materializations(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str) -> list[dict]:
    """Metadata of every materialisation of ``key`` for ``partition``, oldest first."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=100, ascending=True
    ).records
    return [{k: v.value for k, v in r.asset_materialization.metadata.items()} for r in records]  # type: ignore[union-attr]


def engine_messages(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    entries = instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
    return [str(e.dagster_event.message) for e in entries if e.dagster_event and e.dagster_event.message]
