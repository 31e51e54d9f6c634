"""Code location ``transcribe_gpu``: ``gpu/speech_transcript`` on an NVIDIA GPU.

faster-whisper on CUDA by default (compute type ``default`` = float16 there), or NVIDIA Parakeet
with ``CAST_SPEECH_BACKEND=parakeet``; CAST_SPEECH_MODEL / _DEVICE / _COMPUTE_TYPE of this host
override the defaults (device ``cuda``: no silent CPU fallback on a GPU box). Runs start as
subprocesses of this location's ``dagster api grpc`` server, on this host (DefaultRunLauncher).

Picking up work: the ``audio_ready_gpu`` sensor (on by default) requests ``transcribe_job`` runs for
episodes whose audio the core location downloaded and that this location has not transcribed yet;
``transcript_sources`` in core then builds their transcripts. A sensor rather than an
AutomationCondition because only audio with status ``downloaded`` needs the model, which only a
sensor can read from the materialisation (cast_pipeline.defs.speech.automation).
"""

from __future__ import annotations

import dagster as dg

from cast_pipeline.defs.speakers.assets import build_speakers_asset
from cast_pipeline.defs.speech.assets import build_speech_asset
from cast_pipeline.defs.speech.automation import build_audio_ready_sensor, build_transcribe_job
from cast_pipeline.defs.speech.keys import GPU
from cast_pipeline.defs.storage.resources import CastResource
from cast_pipeline.locations.common import location_speech_model

LOCATION_NAME = "transcribe_gpu"
# faster-whisper batched decoding: the throughput setting for large models on a GPU (tiny.en on a CPU keeps
# sequential decoding, see cast_pipeline.defs.speech.resources); Parakeet batches internally and ignores it.
GPU_BATCH_SIZE = 8

speech_model = location_speech_model(backend="faster-whisper", device="cuda", batch_size=GPU_BATCH_SIZE)
speech_transcript = build_speech_asset(GPU, speech_model)

defs = dg.Definitions(
    assets=[speech_transcript, build_speakers_asset(GPU)],
    jobs=[build_transcribe_job(GPU)],
    sensors=[build_audio_ready_sensor(GPU, dg.DefaultSensorStatus.RUNNING)],
    resources={"cast": CastResource(), "speech_model": speech_model},
)
