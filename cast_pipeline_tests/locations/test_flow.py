"""An episode through the three code locations' definitions on one instance, driven by their sensors.

core downloads audio -> the GPU location's sensor asks for exactly that episode -> its speech asset
transcribes it (here on the CPU) -> core's transcript_sources sensor asks for the transcript -> core
renders it from the GPU's result. Everything in-process; test_grpc_locations runs the GPU side as a
real `dagster api grpc` server.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from cast_pipeline.defs.speech.automation import TRANSCRIBE_JOB, TRANSCRIPT_JOB
from cast_pipeline.defs.speech.keys import GPU, speech_key
from cast_pipeline.defs.speech.resources import SpeechModel
from cast_pipeline.defs.storage.resources import CastResource
from cast_pipeline.locations import core, gpu
from cast_pipeline.paths import DataPaths
from cast_pipeline_tests.defs.speech.speechkit import (
    SpeechItem,
    latest_metadata,
    register_feed,
    run_range,
    serve_speech_feed,
)
from cast_pipeline_tests.httpserver import LocalHTTPServer


def _requests(sensor: dg.SensorDefinition, defs: dg.Definitions, instance: dg.DagsterInstance) -> list[tuple]:
    with dg.build_sensor_context(instance=instance, definitions=defs) as context:
        result = sensor(context)
    return [(r.job_name, r.partition_key or r.tags) for r in result.run_requests]


def test_audio_from_core_is_transcribed_by_the_gpu_location_and_rendered_by_core(
    http_server: LocalHTTPServer, data_dir: Path, shared_data: Path
) -> None:
    items = [
        SpeechItem("pub", "Publisher", audio=b"never downloaded", transcript=True),
        SpeechItem("jfk", "JFK", audio=shared_data / "audio" / "jfk.wav"),
    ]
    url = serve_speech_feed(http_server, items)
    paths = DataPaths(data_dir)
    with dg.instance_for_test() as instance:
        keys = register_feed(core.defs, instance, url, data_dir)
        jfk, pub = keys["JFK"], keys["Publisher"]
        assert run_range(core.defs, "episodes_job", instance, instance.get_dynamic_partitions("episodes")).success
        assert latest_metadata(instance, "transcript", jfk)["status"] == "awaiting_audio"  # no speech in core
        assert latest_metadata(instance, "audio", jfk)["status"] == "downloaded"

        (audio_ready,) = gpu.defs.sensors
        assert _requests(audio_ready, gpu.defs, instance) == [(TRANSCRIBE_JOB, jfk)]  # not the publisher one

        # The GPU location's job; this machine has no GPU, so its model runs on the CPU here.
        on_cpu = SpeechModel(backend="faster-whisper", model="tiny.en", device="cpu")
        resources = {"cast": CastResource(), "speech_model": on_cpu}
        assert run_range(gpu.defs, TRANSCRIBE_JOB, instance, [jfk], resources=resources).success
        speech = json.loads(paths.episode_file(jfk, "speech-gpu.json").read_text())
        assert speech["location"] == GPU and speech["model"] == "tiny.en"
        assert latest_metadata(instance, speech_key(GPU), jfk)["status"] == "transcribed"
        assert _requests(audio_ready, gpu.defs, instance) == []  # that audio file is transcribed now

        transcript_sources = core.defs.resolve_sensor_def("transcript_sources")
        assert _requests(transcript_sources, core.defs, instance) == [(TRANSCRIPT_JOB, jfk)]
        assert run_range(core.defs, TRANSCRIPT_JOB, instance, [jfk]).success
        meta = latest_metadata(instance, "transcript", jfk)
        assert (meta["status"], meta["source"], meta["model"]) == ("ready", "faster-whisper:tiny.en", "tiny.en")
        assert "ask not what your country" in paths.episode_file(jfk, "transcript.md").read_text().lower()
        assert latest_metadata(instance, "transcript", pub)["source"] == "podcast2.0:vtt"
