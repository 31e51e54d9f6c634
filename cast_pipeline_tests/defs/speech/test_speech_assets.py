"""audio -> local/speech_transcript -> transcript on a real instance, real HTTP and faster-whisper tiny.en.

The single-machine definitions run everything in one episodes_job run: episodes with a publisher
transcript never download audio nor load the model; the others are transcribed from real speech.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import dagster as dg
import pytest

from cast_pipeline.definitions import defs
from cast_pipeline.defs.jobs import EPISODES_JOB
from cast_pipeline.defs.speech.automation import TRANSCRIPT_JOB, audio_ready_sensor_name
from cast_pipeline.defs.speech.keys import LOCAL, speech_key
from cast_pipeline.defs.speech.overlap import audio_and_speech_step
from cast_pipeline.integrity import fingerprint_file
from cast_pipeline.paths import DataPaths
from cast_pipeline.speech import clear_model_cache, loaded_models
from cast_pipeline.speech.wer import wer
from cast_pipeline_tests.defs.speech.speechkit import (
    SpeechItem,
    failure_description,
    latest_metadata,
    register_feed,
    run_range,
    serve_speech_feed,
    step_keys,
)
from cast_pipeline_tests.httpserver import LocalHTTPServer

SPEECH = speech_key(LOCAL)
SPEECH_STEP = audio_and_speech_step(LOCAL)  # one machine: audio and speech in one step (defs.speech.overlap)


def _speech_text(paths: DataPaths, key: str) -> tuple[str, dict]:
    doc = json.loads(paths.episode_file(key, "speech-local.json").read_text(encoding="utf-8"))
    return " ".join(s["text"] for s in doc["segments"]), doc


def test_one_run_transcribes_only_the_episodes_without_publisher_transcript(
    http_server: LocalHTTPServer, data_dir: Path, shared_data: Path
) -> None:
    audio_dir = shared_data / "audio"
    items = [
        SpeechItem("pub", "Publisher episode", audio=b"never downloaded", transcript=True),
        SpeechItem("jfk", "JFK", audio=audio_dir / "jfk.wav"),
        SpeechItem("sense", "Sense", audio=audio_dir / "librivox-sense-and-sensibility-0870.wav"),
    ]
    url = serve_speech_feed(http_server, items)
    paths = DataPaths(data_dir)
    clear_model_cache()
    with dg.instance_for_test() as instance:
        keys = register_feed(defs, instance, url, data_dir)
        result = run_range(defs, EPISODES_JOB, instance, instance.get_dynamic_partitions("episodes"))
        assert result.success, [e.message for e in result.get_step_failure_events()]

        # One model for the whole run, loaded in this (the run's) process.
        assert loaded_models() == [("faster-whisper", "tiny.en", "cpu", "int8")]

        pub = keys["Publisher episode"]
        assert latest_metadata(instance, "audio", pub)["status"] == "not_needed"
        assert latest_metadata(instance, SPEECH, pub)["status"] == "not_needed"
        assert not http_server.requests_to("/a/pub.wav")  # transcript-first: no download
        assert not list(paths.episode_dir(pub).glob("audio*")) and not list(paths.episode_dir(pub).glob("speech-*"))
        assert latest_metadata(instance, "transcript", pub)["source"] == "podcast2.0:vtt"

        jfk = keys["JFK"]
        audio_meta = latest_metadata(instance, "audio", jfk)
        assert audio_meta["status"] == "downloaded" and audio_meta["format"] == "wav"
        assert audio_meta["bytes"] == (audio_dir / "jfk.wav").stat().st_size
        assert audio_meta["duration_seconds"] == pytest.approx(11.0, abs=0.1)
        meta = latest_metadata(instance, SPEECH, jfk)
        assert meta["status"] == "transcribed"
        assert (meta["backend"], meta["model"], meta["device"], meta["language"]) == (
            "faster-whisper",
            "tiny.en",
            "cpu",
            "en",  # feed language en-us -> en
        )
        assert meta["host"] == socket.gethostname() and meta["pid"] == os.getpid()
        assert meta["duration_seconds"] == pytest.approx(11.0, abs=0.1)
        assert meta["realtime_factor"] > 0.5 and meta["words"] >= 20
        # quality signals: JFK speaks ~130 words a minute; 11 s is one chunk, decoded sequentially
        assert 90 < meta["words_per_minute"] < 200 and 8.0 < meta["speech_seconds"] <= 11.0
        assert (meta["chunks"], meta["redecoded_share"], meta["removed_by_guards"]) == (0, 0.0, [])
        text, doc = _speech_text(paths, jfk)
        assert wer((audio_dir / "jfk.txt").read_text(), text) <= 0.05
        assert doc["audio_fingerprint"] == audio_meta["fingerprint"] and doc["pid"] == os.getpid()

        sense_text, _ = _speech_text(paths, keys["Sense"])
        reference = (audio_dir / "librivox-sense-and-sensibility-0870.txt").read_text()
        assert wer(reference, sense_text) <= 0.15

        # The model is part of the asset's code version, so a model change shows up in the UI.
        event = instance.get_latest_materialization_event(SPEECH)
        assert event is not None and event.asset_materialization is not None
        assert event.asset_materialization.tags["dagster/code_version"] == "faster-whisper:tiny.en"

        markdown = paths.episode_file(jfk, "transcript.md").read_text(encoding="utf-8")
        assert markdown.startswith("# JFK") and "ask not what your country can do for you" in markdown.lower()
        transcript_doc = json.loads(paths.episode_file(jfk, "transcript.json").read_text(encoding="utf-8"))
        assert (transcript_doc["source"], transcript_doc["model"]) == ("faster-whisper:tiny.en", "tiny.en")
        assert latest_metadata(instance, "transcript", jfk)["source"] == "faster-whisper:tiny.en"

        # Idempotent: materialising audio again reuses the complete download.
        requests_before = len(http_server.requests_to("/a/jfk.wav"))
        again = run_range(defs, EPISODES_JOB, instance, [jfk], asset_selection=[dg.AssetKey("audio")])
        assert again.success
        assert latest_metadata(instance, "audio", jfk)["reused"] is True
        assert len(http_server.requests_to("/a/jfk.wav")) == requests_before


def test_a_corrupt_file_fails_only_its_partition_and_the_sensor_completes_the_others(
    http_server: LocalHTTPServer, data_dir: Path, shared_data: Path
) -> None:
    items = [
        SpeechItem("jfk", "JFK", audio=shared_data / "audio" / "jfk.wav"),
        SpeechItem("broken", "Broken", audio=shared_data / "audio" / "bad" / "bad.wav"),  # WAV header, no data
    ]
    url = serve_speech_feed(http_server, items)
    paths = DataPaths(data_dir)
    with dg.instance_for_test() as instance:
        keys = register_feed(defs, instance, url, data_dir)
        order = instance.get_dynamic_partitions("episodes")
        result = run_range(defs, EPISODES_JOB, instance, order)
        assert not result.success
        jfk, broken = keys["JFK"], keys["Broken"]

        # The broken file passes the magic-byte check, so audio records it; speech fails for it alone.
        assert latest_metadata(instance, "audio", broken)["duration_seconds"] == "unknown"
        description = failure_description(result, SPEECH_STEP)
        assert (
            f"- {broken}: " in description
            and "audio.wav is not a readable audio container" in description
            and jfk not in description
        )
        assert latest_metadata(instance, SPEECH, broken) is None
        assert latest_metadata(instance, SPEECH, jfk)["status"] == "transcribed"
        assert paths.episode_file(jfk, "speech-local.json").exists()
        assert latest_metadata(instance, SPEECH, jfk)["files"] == {  # the fingerprint of the file as written
            "speech-local.json": fingerprint_file(paths.episode_file(jfk, "speech-local.json"))
        }
        # Dagster skips the transcript step of the whole batch after a failed upstream step...
        assert "transcript" not in step_keys(result)
        assert latest_metadata(instance, "transcript", jfk) is None

        # ...so the transcript_sources sensor rebuilds it for the episodes that have a source.
        sensor = defs.resolve_sensor_def("transcript_sources")
        with dg.build_sensor_context(instance=instance, definitions=defs) as context:
            outcome = sensor(context)
        assert [(r.job_name, r.partition_key) for r in outcome.run_requests] == [(TRANSCRIPT_JOB, jfk)]
        follow = run_range(defs, TRANSCRIPT_JOB, instance, [jfk])
        assert follow.success
        assert "ask not what your country" in paths.episode_file(jfk, "transcript.md").read_text().lower()
        with dg.build_sensor_context(instance=instance, definitions=defs, cursor=outcome.cursor) as context:
            assert not sensor(context).run_requests  # handled once

        # The audio sensor does not retry the broken file (its speech step already failed) nor the done one.
        audio_sensor = defs.resolve_sensor_def(audio_ready_sensor_name(LOCAL))
        with dg.build_sensor_context(instance=instance, definitions=defs) as context:
            assert not audio_sensor(context).run_requests
