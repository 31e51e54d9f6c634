"""local/speakers on a real instance: between speech and transcript in the episodes_job, re-run alone.

A two-person conversation (real recordings, cast_pipeline_tests/speakers/conversations.py) is served
as an episode's enclosure; one run downloads, transcribes, diarizes and writes a transcript whose
phrases carry Speaker 1 / Speaker 2. Re-running only the speakers asset does not transcribe again, and
the transcript_sources sensor then asks for the transcript to be rebuilt.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from cast_pipeline.definitions import defs
from cast_pipeline.defs.jobs import EPISODES_JOB
from cast_pipeline.defs.speakers.keys import speakers_key
from cast_pipeline.defs.speech.automation import TRANSCRIPT_JOB
from cast_pipeline.defs.speech.keys import LOCAL
from cast_pipeline.paths import DataPaths
from cast_pipeline.speech import clear_model_cache, loaded_models
from cast_pipeline.speech.decode import SAMPLE_RATE
from cast_pipeline_tests.defs.speech.speechkit import (
    SpeechItem,
    latest_metadata,
    register_feed,
    run_range,
    serve_speech_feed,
)
from cast_pipeline_tests.httpserver import LocalHTTPServer
from cast_pipeline_tests.speakers.conversations import build_conversation
from cast_pipeline_tests.speech.audiokit import encode_audio

pytestmark = pytest.mark.slow
SPEAKERS = speakers_key(LOCAL)


def test_speakers_run_between_speech_and_transcript_and_rerun_alone(
    http_server: LocalHTTPServer, data_dir: Path, tmp_path: Path
) -> None:
    conv = build_conversation(("librivox", "bruce"), 8, seed=21, max_turn=8.0)
    audio = encode_audio(conv.samples, tmp_path / "talk.wav", "pcm_s16le", SAMPLE_RATE, "mono")
    items = [
        SpeechItem("pub", "Publisher episode", audio=b"never downloaded", transcript=True),
        SpeechItem("talk", "Two people", audio=audio),
    ]
    url = serve_speech_feed(http_server, items)
    paths = DataPaths(data_dir)
    with dg.instance_for_test() as instance:
        keys = register_feed(defs, instance, url, data_dir)
        talk, pub = keys["Two people"], keys["Publisher episode"]
        result = run_range(defs, EPISODES_JOB, instance, instance.get_dynamic_partitions("episodes"))
        assert result.success, [e.message for e in result.get_step_failure_events()]

        meta = latest_metadata(instance, SPEAKERS, talk)
        assert (meta["status"], meta["method"], meta["speakers"]) == ("diarized", "resemblyzer+spectral", 2)
        assert latest_metadata(instance, SPEAKERS, pub)["status"] == "not_needed"
        event = instance.get_latest_materialization_event(SPEAKERS)
        assert event.asset_materialization.tags["dagster/code_version"].startswith("resemblyzer+spectral:")
        doc = json.loads(paths.episode_file(talk, "speakers-local.json").read_text(encoding="utf-8"))
        assert doc["speech_file"] == "speech-local.json" and doc["speakers"] == ["Speaker 1", "Speaker 2"]

        transcript = json.loads(paths.episode_file(talk, "transcript.json").read_text(encoding="utf-8"))
        assert transcript["speakers"] == ["Speaker 1", "Speaker 2"]
        assert {s["speaker"] for s in transcript["segments"]} == {"Speaker 1", "Speaker 2"}
        markdown = paths.episode_file(talk, "transcript.md").read_text(encoding="utf-8")
        assert "Speaker 1: " in markdown and "Speaker 2: " in markdown
        preview = latest_metadata(instance, "transcript", talk)["preview"]
        assert "Speaker 1: " in preview  # the UI's Markdown preview shows who speaks

        # Re-diarize without re-transcribing: only the speakers step, no speech model loaded.
        speech = paths.episode_file(talk, "speech-local.json")
        before = speech.stat().st_mtime_ns
        clear_model_cache()
        again = run_range(defs, EPISODES_JOB, instance, [talk], asset_selection=[SPEAKERS])
        assert again.success and loaded_models() == [] and speech.stat().st_mtime_ns == before
        sensor = defs.resolve_sensor_def("transcript_sources")
        with dg.build_sensor_context(instance=instance, definitions=defs) as context:
            requests = sensor(context).run_requests
        assert [(r.job_name, r.partition_key) for r in requests] == [(TRANSCRIPT_JOB, talk)]


def test_diarization_off_records_it_and_writes_no_speakers(
    http_server: LocalHTTPServer, data_dir: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = serve_speech_feed(http_server, [SpeechItem("jfk", "JFK", audio=shared_data / "audio" / "jfk.wav")])
    paths = DataPaths(data_dir)
    monkeypatch.setenv("CAST_DIARIZATION", "off")
    with dg.instance_for_test() as instance:
        keys = register_feed(defs, instance, url, data_dir)
        result = run_range(defs, EPISODES_JOB, instance, instance.get_dynamic_partitions("episodes"))
        assert result.success
        jfk = keys["JFK"]
        assert latest_metadata(instance, SPEAKERS, jfk)["status"] == "off"
        assert not paths.episode_file(jfk, "speakers-local.json").exists()
        transcript = json.loads(paths.episode_file(jfk, "transcript.json").read_text(encoding="utf-8"))
        assert {s["speaker"] for s in transcript["segments"]} == {None}
