"""The fleet's configuration: queues, routing by tag, Celery delivery rules, worker command line (no processes)."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg
import pytest

from cast_pipeline.cli.worker import worker_argv
from cast_pipeline.defs.speakers.keys import speakers_key
from cast_pipeline.defs.speech.keys import speech_key
from cast_pipeline.fleet.app import kombu_queues, make_app
from cast_pipeline.fleet.settings import (
    DEFAULT_VISIBILITY_TIMEOUT,
    QUEUE_TAG,
    QUEUES,
    TASK_NAME,
    celery_config,
    load_fleet_settings,
    new_audio_queue,
    queue,
    redact,
    worker_identity,
)

BROKER = "redis://:s3cret@10.0.0.1:6379/0"


def test_settings_come_from_the_environment_with_defaults() -> None:
    s = load_fleet_settings({"CAST_CELERY_BROKER_URL": BROKER})
    assert (s.broker_url, s.backend_url) == (BROKER, BROKER)  # the backend defaults to the broker
    assert (s.visibility_timeout, s.concurrency) == (DEFAULT_VISIBILITY_TIMEOUT, 1)
    s = load_fleet_settings(
        {
            "CAST_CELERY_BROKER_URL": "rediss://:pw@box:6380/1",
            "CAST_CELERY_BACKEND_URL": "redis://other:6379/2",
            "CAST_CELERY_VISIBILITY_TIMEOUT": "28800",
            "CAST_WORKER_CONCURRENCY": "2",
            "CAST_CELERY_WORKER_LOST_SECONDS": "60",
        }
    )
    assert (s.backend_url, s.visibility_timeout, s.concurrency, s.lost_after) == ("redis://other:6379/2", 28800, 2, 60)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "CAST_CELERY_BROKER_URL is not set"),
        ({"CAST_CELERY_BROKER_URL": "amqp://guest@x//"}, "supports Redis brokers"),
        ({"CAST_CELERY_BROKER_URL": BROKER, "CAST_WORKER_CONCURRENCY": "two"}, "CAST_WORKER_CONCURRENCY='two'"),
        ({"CAST_CELERY_BROKER_URL": BROKER, "CAST_CELERY_VISIBILITY_TIMEOUT": "5"}, "must be at least 300"),
    ],
)
def test_bad_settings_are_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        load_fleet_settings(env)


def test_the_password_never_shows() -> None:
    assert redact(BROKER) == "redis://:***@10.0.0.1:6379/0"
    assert "s3cret" not in repr(load_fleet_settings({"CAST_CELERY_BROKER_URL": BROKER}).redacted_broker())


def test_delivery_rules_survive_a_killed_worker() -> None:
    conf = celery_config(
        load_fleet_settings({"CAST_CELERY_BROKER_URL": BROKER, "CAST_CELERY_VISIBILITY_TIMEOUT": "7200"})
    )
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"] and conf["task_track_started"]
    assert conf["worker_prefetch_multiplier"] == 1 and conf["worker_disable_prefetch"]
    assert conf["broker_transport_options"]["visibility_timeout"] == 7200
    assert conf["task_time_limit"] < 7200  # a step is stopped before its message could be delivered twice
    assert conf["broker_connection_max_retries"] is None  # a worker waits for Redis for ever
    app = make_app(load_fleet_settings({"CAST_CELERY_BROKER_URL": BROKER}))
    assert app.conf.task_acks_late and app.conf.worker_prefetch_multiplier == 1
    assert TASK_NAME in app.tasks  # the name dagster_celery's executor submits
    assert {q.name: q.routing_key for q in kombu_queues()} == {name: name for name in QUEUES}


def test_each_queue_names_its_assets_and_hardware() -> None:
    assert {q.name: q.prefix for q in QUEUES.values()} == {
        "speech-cuda": "gpu",
        "speech-mps": "mac",
        "speech-cpu": "cpu",
    }
    assert queue("speech-cuda").speech_defaults["CAST_SPEECH_DEVICE"] == "cuda"
    assert queue("speech-mps").speech_defaults["CAST_SPEECH_BACKEND"] == "mlx-whisper"
    with pytest.raises(ValueError, match="unknown fleet queue 'speech-tpu'"):
        queue("speech-tpu")


def test_speech_prefixes_are_not_a_fixed_list() -> None:
    assert speech_key("box5") == dg.AssetKey(["box5", "speech_transcript"])
    assert speakers_key("cpu") == dg.AssetKey(["cpu", "speakers"])
    for bad in ("", "GPU", "a/b", "../x"):
        with pytest.raises(ValueError, match="not a speech location prefix"):
            speech_key(bad)


def test_speech_steps_are_routed_to_their_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAST_CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
    from cast_pipeline.locations import fleet

    for q in QUEUES.values():
        job = fleet.defs.resolve_job_def(fleet.transcribe_job_name(q))
        assert job.executor_def.name == "fleet"
        steps = {node.name: node.tags.get(QUEUE_TAG) for node in job.graph.node_defs}
        key = speech_key(q.prefix).to_python_identifier()
        assert steps == {key: q.name, speakers_key(q.prefix).to_python_identifier(): q.name}
        spec = next(a for a in fleet.ASSETS if speech_key(q.prefix) in a.keys)
        assert spec.op.pool == q.name  # per-queue limit: `dagster instance concurrency set <queue> N`
    # A backfill or "Materialize" in the UI runs the implicit asset job: its steps go to the queues too.
    implicit = fleet.defs.get_repository_def().get_job("__ASSET_JOB")
    assert implicit.executor_def.name == "fleet"


def test_worker_command_line() -> None:
    argv = worker_argv("speech-cuda", 2, "box5@gpu-5")
    assert argv[:3] == ["worker", "--queues", "speech-cuda"]
    assert argv[argv.index("--concurrency") + 1] == "2" and argv[argv.index("--prefetch-multiplier") + 1] == "1"
    assert argv[argv.index("--pool") + 1] == "prefork" and argv[argv.index("--hostname") + 1] == "box5@gpu-5"


def test_metadata_names_the_worker() -> None:
    who = worker_identity({"CAST_WORKER_QUEUE": "speech-cpu", "CAST_WORKER_NAME": "w1@host-a"})
    assert who["queue"] == "speech-cpu" and who["worker"] == "w1@host-a" and who["pid"] > 0 and who["host"]
    assert set(worker_identity({})) == {"host", "pid"}  # in-process runs: no queue, no worker


def test_the_fleet_workspace_materialises_every_speech_input_of_core() -> None:
    """core + fleet, as the fleet deployment's workspace loads them: nothing core reads is left without a producer."""
    from cast_pipeline.locations import core, fleet

    assets = [a for d in (core.defs, fleet.defs) for a in d.resolve_asset_graph().assets_defs if a.is_executable]
    graph = dg.Definitions(assets=assets).resolve_asset_graph()
    parents = graph.get(dg.AssetKey("transcript")).parent_keys
    assert all(graph.get(key).is_executable for key in parents)
    assert {speech_key(q.prefix) for q in QUEUES.values()} <= parents


def test_a_worker_runs_only_the_wanted_delivery_of_a_step() -> None:
    """A late copy of a resubmitted step, of a finished step or of a finished run is dropped, not run again."""
    from dagster._core.events import EngineEventData

    from cast_pipeline.fleet.app import SUBMITTED, unwanted_delivery

    @dg.op
    def step() -> None:
        pass

    @dg.job
    def job() -> None:
        step()

    with dg.instance_for_test() as instance:
        run = instance.create_run_for_job(job_def=job)
        assert unwanted_delivery(instance, run.run_id, "step", "t1") is None  # nothing recorded yet: run it
        for task in ("t1", "t2"):  # submitted, then resubmitted by the executor
            instance.report_engine_event("submitted", run, EngineEventData({SUBMITTED: task}), step_key="step")
        assert unwanted_delivery(instance, run.run_id, "step", "t2") is None
        assert "resubmitted as task t2" in str(unwanted_delivery(instance, run.run_id, "step", "t1"))
        finished = job.execute_in_process(instance=instance)
        assert "is already SUCCESS" in str(unwanted_delivery(instance, finished.run_id, "step", "t9"))
        assert "does not exist" in str(unwanted_delivery(instance, "no-such-run", "step", "t1"))


def test_a_backfill_is_cut_into_runs_that_spread_over_the_workers() -> None:
    """400 episodes -> 16 runs of 25, each one speech step (one worker, one model load), run side by side."""
    from cast_pipeline.defs.feeds.partitions import EPISODES_PER_RUN
    from cast_pipeline.locations import fleet

    for q in QUEUES.values():
        asset = next(a for a in fleet.ASSETS if speech_key(q.prefix) in a.keys)
        assert asset.backfill_policy is not None
        assert asset.backfill_policy.max_partitions_per_run == EPISODES_PER_RUN == 25
        assert -(-400 // asset.backfill_policy.max_partitions_per_run) == 16


def test_a_larger_fleet_can_cut_backfills_into_smaller_runs() -> None:
    """CAST_EPISODES_PER_RUN on the location's host sets the backfill policy (read when it loads its definitions)."""
    import subprocess
    import sys

    from cast_pipeline.defs.feeds.partitions import episodes_per_run
    from cast_pipeline_tests.conftest import REPO_ROOT

    code = (
        "from cast_pipeline.locations import fleet\n"
        "print({a.backfill_policy.max_partitions_per_run for a in fleet.ASSETS if a.backfill_policy})"
    )
    env = {**os.environ, "CAST_EPISODES_PER_RUN": "5", "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "{5}", done.stderr
    assert episodes_per_run({"CAST_EPISODES_PER_RUN": "10"}) == 10 and episodes_per_run({}) == 25
    for bad, why in (("0", "at least one episode"), ("many", "not a whole number")):
        with pytest.raises(ValueError, match=f"CAST_EPISODES_PER_RUN.*{why}"):
            episodes_per_run({"CAST_EPISODES_PER_RUN": bad})


def test_the_queue_that_picks_up_new_audio_is_a_setting_and_a_typo_names_it() -> None:
    assert new_audio_queue({}).name == "speech-cuda"  # GPU boxes, as before
    assert new_audio_queue({"CAST_FLEET_NEW_AUDIO_QUEUE": " speech-cpu "}).prefix == "cpu"
    with pytest.raises(ValueError, match="CAST_FLEET_NEW_AUDIO_QUEUE: unknown fleet queue 'speech-gpu'"):
        new_audio_queue({"CAST_FLEET_NEW_AUDIO_QUEUE": "speech-gpu"})


def test_the_fleet_location_turns_on_only_the_new_audio_sensor_of_that_queue() -> None:
    """A CPU-only fleet must not send new audio to speech-cuda, where no worker would ever take it."""
    code = (
        "import cast_pipeline.locations.fleet as f; "
        "print(sorted(s.name for s in f.SENSORS if s.default_status.value == 'RUNNING'))"
    )
    env = {**os.environ, "CAST_FLEET_NEW_AUDIO_QUEUE": "speech-cpu"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['audio_ready_cpu']"
