"""The audio asset on a real instance: clear per-episode failures, and local files only from local feeds."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from cast_pipeline.cli.main import app
from cast_pipeline.definitions import defs
from cast_pipeline.defs.jobs import EPISODES_JOB
from cast_pipeline.defs.speech.keys import LOCAL, speech_key
from cast_pipeline.defs.speech.overlap import audio_and_speech_step
from cast_pipeline.paths import DataPaths
from cast_pipeline.speech import clear_model_cache, loaded_models
from cast_pipeline_tests.defs.speech.speechkit import (
    SpeechItem,
    failure_description,
    latest_metadata,
    register_feed,
    rss,
    run_range,
    serve_speech_feed,
    step_keys,
)
from cast_pipeline_tests.httpserver import LocalHTTPServer

UP_TO_AUDIO = [dg.AssetKey(k) for k in ("episode", "publisher_transcript", "audio")]


def test_bad_enclosures_fail_their_own_partitions_with_the_reason(
    http_server: LocalHTTPServer, data_dir: Path, shared_data: Path
) -> None:
    jfk = shared_data / "audio" / "jfk.wav"
    items = [
        SpeechItem("good", "Good", audio=jfk),
        SpeechItem(
            "html",
            "Consent page",
            audio=b"<!DOCTYPE html><html><body>Accept cookies</body></html>" * 4,
            audio_type="text/html",
        ),
        SpeechItem("local", "Sneaky", enclosure=jfk.as_uri()),  # a remote feed pointing at a local file
        SpeechItem("none", "No audio"),  # neither enclosure nor publisher transcript
        SpeechItem("gone", "Gone", enclosure="/a/missing.mp3"),  # 404 (relative to the feed URL)
    ]
    url = serve_speech_feed(http_server, items)
    paths = DataPaths(data_dir)
    with dg.instance_for_test() as instance:
        keys = register_feed(defs, instance, url, data_dir)
        # The whole job: audio fails for four episodes; on one machine audio and speech are one step
        # (defs.speech.overlap), which fails naming them after downloading and transcribing the fifth.
        result = run_range(defs, EPISODES_JOB, instance, instance.get_dynamic_partitions("episodes"))
        assert not result.success
        step = audio_and_speech_step(LOCAL)
        assert step_keys(result)[step] == "STEP_FAILURE"
        description = failure_description(result, step)
        assert "audio, local/speech_transcript failed for 4 of 5 episodes (1 were written and recorded)" in description
        lines = {line.split(": ", 1)[0].lstrip("- "): line for line in description.splitlines()[1:]}
        assert all(": audio: " in line for line in lines.values())  # each names the asset that failed
        assert set(lines) == {keys[t] for t in ("Consent page", "Sneaky", "No audio", "Gone")}
        assert "an HTML page" in lines[keys["Consent page"]] and "/a/html.wav" in lines[keys["Consent page"]]
        assert "refusing the local file enclosure" in lines[keys["Sneaky"]] and url in lines[keys["Sneaky"]]
        assert "has no audio enclosure" in lines[keys["No audio"]]
        assert "HTTP 404" in lines[keys["Gone"]]

        assert instance.get_materialized_partitions(dg.AssetKey("audio")) == {keys["Good"]}
        assert instance.get_materialized_partitions(speech_key(LOCAL)) == {keys["Good"]}
        assert latest_metadata(instance, speech_key(LOCAL), keys["Good"])["status"] == "transcribed"
        for title in ("Consent page", "Sneaky", "No audio", "Gone"):  # nothing half-written or copied
            assert not list(paths.episode_dir(keys[title]).glob("*audio*")), title
            assert not list(paths.episode_dir(keys[title]).glob(".*")), title
        assert latest_metadata(instance, "audio", keys["Good"])["status"] == "downloaded"


def test_a_local_feed_may_use_local_audio(tmp_path: Path, data_dir: Path, shared_data: Path) -> None:
    """The demo's case: feeds.yaml lists feed files whose enclosures are files beside them."""
    (tmp_path / "show" / "audio").mkdir(parents=True)
    shutil.copy(shared_data / "audio" / "jfk.wav", tmp_path / "show" / "audio" / "jfk.wav")
    feed = tmp_path / "show" / "feed.xml"
    feed.write_text(rss("Local show", [SpeechItem("jfk", "JFK", enclosure="audio/jfk.wav")], base="unused"))
    with dg.instance_for_test() as instance:
        keys = register_feed(defs, instance, feed.as_uri(), data_dir)
        result = run_range(defs, EPISODES_JOB, instance, [keys["JFK"]], asset_selection=UP_TO_AUDIO)
        assert result.success
        meta = latest_metadata(instance, "audio", keys["JFK"])
        assert (meta["status"], meta["format"], meta["url"]) == (
            "downloaded",
            "wav",
            (tmp_path / "show" / "audio" / "jfk.wav").as_uri(),
        )
        stored = DataPaths(data_dir).episode_file(keys["JFK"], "audio.wav")
        assert stored.read_bytes() == (shared_data / "audio" / "jfk.wav").read_bytes()


def test_cast_pipeline_run_finishes_the_batch_around_a_failed_download(
    tmp_path: Path, data_dir: Path, http_server: LocalHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dagster skips the steps after a failed one for the whole batch; `run` completes the others."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    items = [
        SpeechItem("a", "Before", transcript=True, audio=b"unused"),
        SpeechItem("gone", "Gone", enclosure="/a/missing.mp3"),
        SpeechItem("b", "After", transcript=True, audio=b"unused"),
    ]
    url = serve_speech_feed(http_server, items)
    clear_model_cache()
    result = CliRunner().invoke(app, ["run", "--feed", url], terminal_width=200)
    assert result.exit_code == 1, result.output
    assert "HTTP 404" in result.output
    paths = DataPaths(data_dir)
    done = sorted(p.parent.name.rsplit("--", 1)[1].split("-")[0] for p in data_dir.glob("episodes/*/*/transcript.md"))
    assert done == ["a", "b"]  # both publisher episodes got their transcripts despite the failure between them
    gone = next(p for p in data_dir.glob("episodes/*/*") if "--gone-" in p.name)
    assert not paths.episode_file(gone.name, "transcript.md").exists()
    # The speech step ran for the two publisher episodes (not_needed) without loading a model.
    assert loaded_models() == [] and not list(data_dir.glob("episodes/*/*/speech-*.json"))
