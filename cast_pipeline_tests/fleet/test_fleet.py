"""The transcription fleet with real parts: Redis, PostgreSQL, Celery workers as separate "hosts".

The processes are the package's (conftest.py: Redis with persistence, a PostgreSQL cluster, workers
alpha and beta on speech-cpu, 11 s episodes, tiny.en on the CPU); each test (re)starts the workers it
needs. Here runs of the ``fleet`` location are ``dagster job execute`` processes (the orchestrator the
server would start); test_fleet_daemon.py goes through the daemon. Timings are printed (``-s``).
"""

from __future__ import annotations

import os
import time

import pytest
import redis

from cast_pipeline.defs.speech.keys import CPU
from cast_pipeline.segments import segments_from_json
from cast_pipeline.transcripts.store import speech_file
from cast_pipeline_tests.deploy.recoverykit import wait_for
from cast_pipeline_tests.fleet.conftest import QUEUE, Fleet
from cast_pipeline_tests.fleet.fleetkit import engine_messages, wait_for_redis

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
BROKER_DOWN = 60  # seconds without Redis for a running worker: the "loses the broker for a minute"


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
    keys = fleet.episodes[5:8]
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


def test_a_worker_killed_after_taking_a_step_but_before_starting_it_is_seen(fleet: Fleet) -> None:
    """The moment between taking the message and STARTED: the worker records RECEIVED, the executor watches it.

    Without it the step would stay PENDING ("still queued") while Redis holds its message unacknowledged
    until the visibility timeout (hours). Alpha's pool child is stopped (SIGSTOP), so alpha takes the
    message but never starts the step; then alpha is killed like a machine that dies.
    """
    import psutil

    for w in fleet.workers.values():
        w.kill()
    fleet.start_workers("alpha")
    main = psutil.Process(fleet.workers["alpha"].pid)
    pool = wait_for(lambda: main.children(recursive=True), 60, "alpha's pool child", every=0.2)
    for child in pool:
        child.suspend()  # SIGSTOP: the pool child never starts what the worker hands it
    key = fleet.episodes[0]  # transcribed already (the rerun reuses it): only the delivery is tested
    client = redis.Redis(port=fleet.port, socket_timeout=2)
    before = set(client.hkeys("unacked"))  # a step of a worker killed earlier stays there (visibility timeout)
    marker, proc = fleet.run([key])

    def taken() -> set[bytes]:
        return set(client.hkeys("unacked")) - before

    wait_for(taken, 90, f"alpha to take the step\n{fleet.logs()}", every=0.1)
    time.sleep(2)  # it hands the step to its (stopped) pool child
    fleet.workers["alpha"].kill()
    killed = time.monotonic()
    fleet.start_workers("beta")
    run = fleet.finish(marker, proc, timeout=120)
    print(f"\nworker killed after taking a step, before starting it: run done {time.monotonic() - killed:.1f} s later")
    messages = engine_messages(fleet.instance, run.run_id)
    assert any("alpha@alpha-host" in m and "has not answered" in m for m in messages), messages
    ran_on = [m for m in messages if "in celery worker" in m]
    assert ran_on and all("beta@beta-host" in m for m in ran_on), ran_on
    assert len(fleet.recorded(run.run_id, key)) == 1
