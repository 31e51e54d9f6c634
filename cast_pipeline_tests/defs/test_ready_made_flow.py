"""Transcript-first on a real instance: publisher, then Pocket Casts, and only then audio."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from cast_pipeline.definitions import defs
from cast_pipeline.defs.jobs import EPISODES_JOB
from cast_pipeline.paths import DataPaths
from cast_pipeline_tests.defs.speech.speechkit import (
    SpeechItem,
    latest_metadata,
    register_feed,
    run_range,
    serve_speech_feed,
)
from cast_pipeline_tests.httpserver import LocalHTTPServer
from cast_pipeline_tests.transcripts.pocketcasts_standin import PCEpisode, PCShow, PocketCastsStandIn

NO_SPEECH = [dg.AssetKey(k) for k in ("episode", "publisher_transcript", "audio", "transcript")]
VTT = "WEBVTT\n\n00:00:00.000 --> 00:00:03.000\nPocket Casts heard this about {topic}.\n"


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[PocketCastsStandIn]:
    server = PocketCastsStandIn().start()
    monkeypatch.setenv("CAST_POCKETCASTS", "on")
    monkeypatch.setenv("CAST_POCKETCASTS_API_URL", server.base_url)
    monkeypatch.setenv("CAST_POCKETCASTS_MIN_INTERVAL", "0")
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow
def test_an_episode_with_a_pocket_casts_transcript_never_downloads_audio(
    http_server: LocalHTTPServer, standin: PocketCastsStandIn, data_dir: Path, shared_data: Path
) -> None:
    jfk = shared_data / "audio" / "jfk.wav"
    items = [
        SpeechItem("pub", "Pasta", transcript=True, audio=jfk),
        SpeechItem("pc", "Mute", audio=jfk),
        SpeechItem("none", "Silent", audio=jfk),
    ]
    url = serve_speech_feed(http_server, items)
    pub = "2023-03-06T10:00:00Z"
    standin.add_show(
        PCShow(
            "Speech show", "Someone", url, [PCEpisode("Mute", pub, VTT.format(topic="mute")), PCEpisode("Pasta", pub)]
        )
    )
    paths = DataPaths(data_dir)
    with dg.instance_for_test() as instance:
        keys = register_feed(defs, instance, url, data_dir)
        result = run_range(
            defs, EPISODES_JOB, instance, instance.get_dynamic_partitions("episodes"), asset_selection=NO_SPEECH
        )
        assert result.success

        def meta(asset: str, title: str) -> dict:
            found = latest_metadata(instance, asset, keys[title])
            assert found is not None
            return found

        assert meta("publisher_transcript", "Mute")["providers"] == "publisher: none, pocketcasts: found"
        assert meta("publisher_transcript", "Mute")["source"] == "pocketcasts"
        assert meta("publisher_transcript", "Pasta")["providers"] == "publisher: found"  # Pocket Casts not asked
        assert meta("publisher_transcript", "Silent")["status"] == "none"
        assert "no transcript for it" not in meta("publisher_transcript", "Silent")["reasons"]
        assert "no episode of the show has a title like 'Silent'" in meta("publisher_transcript", "Silent")["reasons"]

        assert meta("audio", "Mute")["status"] == "not_needed"
        assert meta("audio", "Mute")["reason"] == "pocketcasts transcript found (pocketcasts)"
        assert meta("audio", "Pasta")["status"] == "not_needed"
        assert meta("audio", "Silent")["status"] == "downloaded"
        assert not list(paths.episode_dir(keys["Mute"]).glob("audio.*"))

        doc = json.loads(paths.episode_file(keys["Mute"], "transcript.json").read_text())
        assert doc["source"] == "pocketcasts" and doc["segments"][0]["text"] == "Pocket Casts heard this about mute."
        assert meta("transcript", "Mute")["source"] == "pocketcasts"
        assert meta("transcript", "Silent")["status"] == "awaiting_audio"
    # one search, one show notes file (after its redirect), one VTT: the whole batch
    assert [r.path.split("/")[1] for r in standin.requests] == ["discover", "mobile", "static", "transcripts"]
