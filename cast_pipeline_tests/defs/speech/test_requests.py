"""A follow-up sensor asks again for work whose run was lost, and only for that (issue 11, fault 3).

The audio_ready_gpu sensor of the transcribe_gpu location on a real instance. Runs are created the way
the daemon creates them for a sensor's request (same job, same sensor and run-key tags) and then end
the way a deployment fault ends them: failed at launch because the location was down, failed with a
retry announced, canceled by a person. Audio and speech results are reported as the core and GPU
locations record them (runless here: the sensor only reads the records).
"""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import pytest
from dagster._core.storage.tags import RUN_KEY_TAG, SENSOR_NAME_TAG, WILL_RETRY_TAG

from cast_pipeline.defs.batching import RECORD_EACH_EPISODE_TAGS
from cast_pipeline.defs.feeds.partitions import EPISODES
from cast_pipeline.defs.speech.automation import PENDING, TRANSCRIBE_JOB, audio_ready_sensor_name
from cast_pipeline.defs.speech.keys import AUDIO_KEY, GPU, speech_key
from cast_pipeline.defs.speech.requests import MAX_REQUESTS
from cast_pipeline.locations import gpu

SENSOR = audio_ready_sensor_name(GPU)
KEYS = ["ep-a", "ep-b"]


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(EPISODES, KEYS)
        for key in KEYS:  # core downloaded both episodes' audio
            meta = {"status": "downloaded", "fingerprint": f"sha256:{key}"}
            instance.report_runless_asset_event(dg.AssetMaterialization(AUDIO_KEY, partition=key, metadata=meta))
        yield instance


def _tick(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    sensor = gpu.defs.resolve_sensor_def(SENSOR)
    with dg.build_sensor_context(instance=instance, definitions=gpu.defs, cursor=cursor) as context:
        result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def _run_for(instance: dg.DagsterInstance, request: dg.RunRequest, **tags: str) -> dg.DagsterRun:
    """The run the daemon creates for a sensor's request."""
    job = gpu.defs.resolve_job_def(TRANSCRIBE_JOB)
    all_tags = {**request.tags, SENSOR_NAME_TAG: SENSOR, RUN_KEY_TAG: str(request.run_key), **tags}
    return instance.create_run_for_job(job_def=job, tags=all_tags)


def _transcribed(instance: dg.DagsterInstance, key: str) -> None:
    meta = {"status": "transcribed", "audio_fingerprint": f"sha256:{key}"}
    instance.report_runless_asset_event(dg.AssetMaterialization(speech_key(GPU), partition=key, metadata=meta))


def test_a_run_that_failed_before_transcribing_is_requested_again_until_done(instance: dg.DagsterInstance) -> None:
    first = _tick(instance, None)
    (request,) = first.run_requests
    assert PENDING in (first.cursor or "")
    # The daemon has not created the run yet: nothing new.
    assert not _tick(instance, first.cursor).run_requests

    # The daemon dequeued it while the location was restarting: "user code unreachable", run failed.
    run = _run_for(instance, request)
    instance.report_run_failed(run)
    again = _tick(instance, first.cursor)
    (repeat,) = again.run_requests
    assert repeat.tags == request.tags, "the same episodes"
    assert repeat.run_key != request.run_key, "a new run key (Dagster skips a key it has seen)"

    # This time it works: speech recorded for both episodes, so nothing is pending any more.
    for key in KEYS:
        _transcribed(instance, key)
    done = _tick(instance, again.cursor)
    assert not done.run_requests
    assert PENDING not in (done.cursor or "")


def test_only_the_episodes_not_done_are_requested_again(instance: dg.DagsterInstance) -> None:
    first = _tick(instance, None)
    (request,) = first.run_requests
    _transcribed(instance, "ep-a")  # done before the worker was killed
    instance.report_run_failed(_run_for(instance, request))
    (repeat,) = _tick(instance, first.cursor).run_requests
    assert repeat.partition_key == "ep-b"


def test_sensor_runs_record_each_episode_as_it_finishes(instance: dg.DagsterInstance) -> None:
    """Criterion 3: a killed sensor run loses at most the episode in flight (defs.batching), retries too."""
    first = _tick(instance, None)
    (request,) = first.run_requests
    assert RECORD_EACH_EPISODE_TAGS.items() <= request.tags.items()
    instance.report_run_failed(_run_for(instance, request))
    (repeat,) = _tick(instance, first.cursor).run_requests
    assert RECORD_EACH_EPISODE_TAGS.items() <= repeat.tags.items()


def test_an_announced_retry_or_a_cancel_is_not_doubled(instance: dg.DagsterInstance) -> None:
    first = _tick(instance, None)
    (request,) = first.run_requests
    run = _run_for(instance, request, **{WILL_RETRY_TAG: "true"})
    instance.report_run_failed(run)
    assert not _tick(instance, first.cursor).run_requests, "run_retries is about to relaunch it"

    canceled = _run_for(instance, request)  # newest run for that key: a person canceled it
    instance.report_run_canceled(canceled)
    result = _tick(instance, first.cursor)
    assert not result.run_requests
    assert PENDING not in (result.cursor or ""), "a cancel is a decision, not a fault"


def test_a_run_lost_again_and_again_is_given_up_after_a_few_requests(instance: dg.DagsterInstance) -> None:
    cursor = None
    keys = []
    for _ in range(MAX_REQUESTS):
        result = _tick(instance, cursor)
        (request,) = result.run_requests
        keys.append(request.run_key)
        instance.report_run_failed(_run_for(instance, request))
        cursor = result.cursor
    last = _tick(instance, cursor)
    assert not last.run_requests
    assert PENDING not in (last.cursor or "")
    assert len(set(keys)) == MAX_REQUESTS


def _run_whose_step_raised(instance: dg.DagsterInstance, request: dg.RunRequest, error: Exception) -> None:
    """A run for the request whose speech step failed with ``error`` (a real run: Dagster records the failure)."""
    step = speech_key(GPU).to_python_identifier()

    @dg.op(name=step)
    def failing() -> None:
        raise error

    @dg.job(name=TRANSCRIBE_JOB)
    def job() -> None:
        failing()

    tags = {**request.tags, SENSOR_NAME_TAG: SENSOR, RUN_KEY_TAG: str(request.run_key)}
    assert not job.execute_in_process(instance=instance, tags=tags, raise_on_error=False).success


def test_a_step_failed_by_the_database_going_away_is_requested_again(instance: dg.DagsterInstance) -> None:
    """PostgreSQL restarted under a running step: the step fails with the driver's error; that is no episode's fault."""
    import psycopg2

    first = _tick(instance, None)
    (request,) = first.run_requests
    lost = psycopg2.OperationalError("server closed the connection unexpectedly")
    _run_whose_step_raised(instance, request, lost)
    (repeat,) = _tick(instance, first.cursor).run_requests
    assert repeat.tags == request.tags and repeat.run_key != request.run_key


def test_a_step_that_raised_on_its_own_is_not_requested_again(instance: dg.DagsterInstance) -> None:
    first = _tick(instance, None)
    (request,) = first.run_requests
    _run_whose_step_raised(instance, request, ValueError("corrupt audio"))
    result = _tick(instance, first.cursor)
    assert not result.run_requests and PENDING not in (result.cursor or "")
