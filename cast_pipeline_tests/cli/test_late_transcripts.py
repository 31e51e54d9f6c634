"""Late transcripts win: a publisher transcript that appears after speech replaces it, speech stays on disk."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from cast_pipeline.cli.main import app
from cast_pipeline.defs.feeds.sensors import new_episodes
from cast_pipeline.defs.storage.resources import CastResource
from cast_pipeline.instance import get_instance
from cast_pipeline.paths import DataPaths
from cast_pipeline_tests.defs.feedkit import Item, serve_feed
from cast_pipeline_tests.httpserver import LocalHTTPServer

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CAST_FEED_REFRESH_SECONDS", "0")  # the sensor tick below re-checks the feed at once
    return tmp_path


def _search(text: str) -> list[dict]:
    result = runner.invoke(app, ["search", text, "--json", "--mode", "keyword"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.slow
def test_a_late_publisher_transcript_replaces_speech_on_the_sensor_and_run_paths(
    env: Path, http_server: LocalHTTPServer, data_dir: Path, shared_data: Path
) -> None:
    url = serve_feed(http_server, "/feed.xml", "Talks", [Item("talk", "Talk", transcript=False)])
    http_server.add_file("/a/talk.mp3", shared_data / "audio" / "jfk.wav", "audio/wav")
    first = runner.invoke(app, ["run", "--feed", url], terminal_width=200)
    assert first.exit_code == 0, first.output
    paths = DataPaths(data_dir)
    key = next((data_dir / "episodes").glob("*/*")).name
    spoken = json.loads(paths.episode_file(key, "transcript.json").read_text())
    assert spoken["source"] == "faster-whisper:tiny.en" and "country" in json.dumps(spoken["segments"]).lower()

    # A week later the publisher adds its transcript to the feed.
    serve_feed(http_server, "/feed.xml", "Talks", [Item("talk", "Talk", transcript=True)], etag='"v2"')

    # Sensor path: the refresh that sees the new tag asks for exactly that episode again.
    instance = get_instance()
    tick = new_episodes(dg.build_sensor_context(instance=instance, resources={"cast": CastResource()}))
    assert [r.partition_key for r in tick.run_requests] == [key]
    assert tick.run_requests[0].run_key.startswith(f"late:{key}@")

    # `cast-pipeline run` path (the feed now answers 304 to it: the sensor stored the new catalog).
    second = runner.invoke(app, ["run"], terminal_width=200)
    assert second.exit_code == 0, second.output
    doc = json.loads(paths.episode_file(key, "transcript.json").read_text())
    assert doc["source"] == "podcast2.0:vtt" and doc["segments"][0]["text"].startswith("Welcome to the show about Talk")
    assert json.loads(paths.episode_file(key, "speech-local.json").read_text())["segments"]  # kept on disk
    records = instance.fetch_materializations(dg.AssetKey("transcript"), limit=1).records
    assert records[0].asset_materialization.metadata["previous_source"].value == "faster-whisper:tiny.en"
    hits = _search("Welcome to the show about Talk")
    assert hits and all(h["episode_key"] == key for h in hits)
    assert not [h for h in _search("country") if h["result_type"] == "segment"]  # the speech text left the index
