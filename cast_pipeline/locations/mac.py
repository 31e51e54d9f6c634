"""Code location ``transcribe_mac``: ``mac/speech_transcript`` with mlx-whisper on Apple Silicon.

The backend defaults to mlx-whisper (Metal GPU through MLX); CAST_SPEECH_BACKEND / _MODEL of the
Mac's launchd plist override it. ``transcribe_job`` runs a range of episodes, one model load per
run, as subprocesses of this location's gRPC server on the Mac.

Its ``audio_ready_mac`` sensor is off by default: the GPU location picks up new audio, and with
both sensors on both machines would transcribe every episode. Switch it on when the Mac is the
transcription machine, or use the Mac for backfills (Assets -> mac/speech_transcript -> Materialize).
"""

from __future__ import annotations

import dagster as dg

from cast_pipeline.defs.speakers.assets import build_speakers_asset
from cast_pipeline.defs.speech.assets import build_speech_asset
from cast_pipeline.defs.speech.automation import build_audio_ready_sensor, build_transcribe_job
from cast_pipeline.defs.speech.keys import MAC
from cast_pipeline.defs.storage.resources import CastResource
from cast_pipeline.locations.common import location_speech_model

LOCATION_NAME = "transcribe_mac"

speech_model = location_speech_model(backend="mlx-whisper")
speech_transcript = build_speech_asset(MAC, speech_model)

defs = dg.Definitions(
    assets=[speech_transcript, build_speakers_asset(MAC)],
    jobs=[build_transcribe_job(MAC)],
    sensors=[build_audio_ready_sensor(MAC, dg.DefaultSensorStatus.STOPPED)],
    resources={"cast": CastResource(), "speech_model": speech_model},
)
