"""Code location ``fleet``: speech on any number of machines, through Celery queues (opt-in, needs Redis).

Served on the server next to ``core`` (``dagster api grpc -m cast_pipeline.locations.fleet``), in place of
``transcribe_gpu`` and ``transcribe_mac``. Its runs start on the server, as every run of the default launcher;
their speech and speakers steps go to a Celery queue by the ``dagster-celery/queue`` tag and run on
whichever ``cast-pipeline worker --queue <queue>`` takes them, on any machine:

- ``speech-cuda`` -> ``gpu/speech_transcript``, ``gpu/speakers`` (NVIDIA boxes; same keys and files as
  the ``transcribe_gpu`` location, so core's ``transcript`` and earlier results carry over);
- ``speech-mps`` -> ``mac/...`` (Apple Silicon, mlx-whisper);
- ``speech-cpu`` -> ``cpu/...`` (any machine, faster-whisper on the CPU).

A queue is a kind of hardware, not a machine: a fifth GPU box is one more worker on ``speech-cuda``,
no code or workspace change. A run of ``transcribe_<prefix>_job`` over a range of episodes is one step
per asset, so one worker and one model load (the worker's process keeps the model for its next step);
a backfill is cut into runs of EPISODES_PER_RUN episodes (the assets' backfill policy), which
run in parallel (the location's run limit in dagster.yaml) and so spread over every live worker of the
queue. Per-queue limit: the speech steps' pool is the queue name (``dagster instance concurrency set
speech-cuda 4``); per-worker: ``--concurrency`` / CAST_WORKER_CONCURRENCY.

The speech model of a queue is what its workers' CAST_SPEECH_* say (``cast-pipeline worker`` fills in the
queue's hardware defaults); it is part of the asset's code version, so every worker of a queue, and
this location's host, should set the same CAST_SPEECH_MODEL.

Sensors ``audio_ready_gpu``, ``audio_ready_mac`` and ``audio_ready_cpu``: the queue that picks up new
audio. The one of CAST_FLEET_NEW_AUDIO_QUEUE (speech-cuda by default) is on by default, the others off;
keep exactly one on.
"""

from __future__ import annotations

import dagster as dg

from cast_pipeline.defs.speakers.assets import build_speakers_asset
from cast_pipeline.defs.speech.assets import build_speech_asset
from cast_pipeline.defs.speech.automation import build_audio_ready_sensor, build_transcribe_job
from cast_pipeline.defs.speech.resources import SpeechModel
from cast_pipeline.defs.storage.resources import CastResource
from cast_pipeline.fleet.executor import fleet_executor
from cast_pipeline.fleet.settings import QUEUE_TAG, QUEUES, Queue, new_audio_queue, pool_name
from cast_pipeline.locations.common import location_speech_model

LOCATION_NAME = "fleet"
PICKS_UP_NEW_AUDIO = new_audio_queue().name  # CAST_FLEET_NEW_AUDIO_QUEUE, speech-cuda by default


def transcribe_job_name(q: Queue) -> str:
    return f"transcribe_{q.prefix}_job"


def _version_model(q: Queue) -> SpeechModel:
    """The queue's model as this host's settings describe it: only its code version is used here."""
    defaults = q.speech_defaults
    return location_speech_model(backend=defaults["CAST_SPEECH_BACKEND"], device=defaults.get("CAST_SPEECH_DEVICE"))


ASSETS: list[dg.AssetsDefinition] = []
JOBS = []
SENSORS = []
for _q in QUEUES.values():
    _tags = {QUEUE_TAG: _q.name}
    ASSETS += [
        build_speech_asset(_q.prefix, _version_model(_q), op_tags=_tags, pool=pool_name(_q)),
        build_speakers_asset(_q.prefix, op_tags=_tags),
    ]
    JOBS.append(build_transcribe_job(_q.prefix, transcribe_job_name(_q), executor_def=fleet_executor))
    _status = dg.DefaultSensorStatus.RUNNING if _q.name == PICKS_UP_NEW_AUDIO else dg.DefaultSensorStatus.STOPPED
    SENSORS.append(build_audio_ready_sensor(_q.prefix, _status, job_name=transcribe_job_name(_q)))

defs = dg.Definitions(
    assets=ASSETS,
    jobs=JOBS,
    sensors=SENSORS,
    # The location's default executor, so also that of its implicit asset job (``__ASSET_JOB``): a backfill
    # or "Materialize" from the UI runs that job, not transcribe_<prefix>_job, and would otherwise run the
    # speech steps on this host instead of the queues.
    executor=fleet_executor,
    # Resolved on the worker that runs the step: its CAST_SPEECH_* (with its queue's defaults).
    resources={"cast": CastResource(), "speech_model": SpeechModel()},
)
