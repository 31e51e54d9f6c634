"""Late transcripts win: a publisher or Pocket Casts transcript that appears after speech replaces it;
the speech result stays on disk."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from cast_pipeline.cli.main import app
from cast_pipeline.definitions import defs
from cast_pipeline.defs.feeds.sensors import new_episodes
from cast_pipeline.defs.jobs import EPISODES_JOB
from cast_pipeline.defs.storage.resources import CastResource
from cast_pipeline.defs.transcripts.sensors import awaiting_transcripts
from cast_pipeline.instance import get_instance
from cast_pipeline.paths import DataPaths
from cast_pipeline_tests.defs.feedkit import Item, serve_feed
from cast_pipeline_tests.httpserver import LocalHTTPServer
from cast_pipeline_tests.transcripts.pocketcasts_standin import PCEpisode, PCShow, PocketCastsStandIn

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


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[PocketCastsStandIn]:
    server = PocketCastsStandIn().start()
    monkeypatch.setenv("CAST_POCKETCASTS", "on")
    monkeypatch.setenv("CAST_POCKETCASTS_API_URL", server.base_url)
    monkeypatch.setenv("CAST_POCKETCASTS_MIN_INTERVAL", "0")
    monkeypatch.setenv("CAST_POCKETCASTS_CACHE_SECONDS", "0")  # each look fetches the show's episode list
    monkeypatch.setenv("CAST_AWAIT_TRANSCRIPT_DAYS", "0")  # straight to speech
    try:
        yield server
    finally:
        server.stop()


PC_VTT = "WEBVTT\n\n00:00:00.000 --> 00:00:04.000\nPocket Casts transcribed {topic} here.\n"


@pytest.mark.slow
def test_a_late_pocket_casts_transcript_replaces_speech_on_the_sensor_and_run_paths(
    env: Path, http_server: LocalHTTPServer, standin: PocketCastsStandIn, data_dir: Path, shared_data: Path
) -> None:
    published = datetime.now(UTC) - timedelta(days=2)
    pub = published.strftime("%a, %d %b %Y %H:%M:%S GMT")
    items = [
        Item("alpha", "Alpha talk", transcript=False, pub=pub),
        Item("beta", "Beta talk", transcript=False, pub=pub),
    ]
    url = serve_feed(http_server, "/feed.xml", "Talks", items)
    for it in items:
        http_server.add_file(f"/a/{it.guid}.mp3", shared_data / "audio" / "jfk.wav", "audio/wav")
    iso = published.strftime("%Y-%m-%dT%H:%M:%SZ")
    show = standin.add_show(
        PCShow("Talks", "Someone", url, [PCEpisode("Alpha talk", iso), PCEpisode("Beta talk", iso)])
    )
    first = runner.invoke(app, ["run", "--feed", url], terminal_width=200)
    assert first.exit_code == 0, first.output
    paths = DataPaths(data_dir)
    keys = {json.loads(p.read_text())["title"]: p.parent.name for p in (data_dir / "episodes").glob("*/*/episode.json")}
    alpha, beta = keys["Alpha talk"], keys["Beta talk"]
    for key in (alpha, beta):
        assert json.loads(paths.episode_file(key, "transcript.json").read_text())["source"] == "faster-whisper:tiny.en"
        assert json.loads(paths.episode_file(key, "pocketcasts.json").read_text())["status"] == "none"

    instance = get_instance()
    context = dg.build_sensor_context(instance=instance, resources={"cast": CastResource()})
    quiet = awaiting_transcripts(context)
    assert not quiet.run_requests and "2 looked up late in Pocket Casts, none found" in str(
        quiet.skip_reason.skip_message
    )

    # Days later Pocket Casts has generated transcripts for both.
    for episode in show.episodes:
        episode.vtt = PC_VTT.format(topic=episode.title)

    # Sensor path: the next tick asks for both (one show list request, no VTT download), and the run
    # it asks for switches the episode's transcript.
    lists_before = len(standin.requests_to("/mobile/show_notes/full/"))
    context = dg.build_sensor_context(instance=instance, resources={"cast": CastResource()}, cursor=context.cursor)
    tick = awaiting_transcripts(context)
    assert sorted(r.partition_key for r in tick.run_requests) == sorted([alpha, beta])
    assert all(r.run_key.startswith("late-pocketcasts:") for r in tick.run_requests)
    assert len(standin.requests_to("/mobile/show_notes/full/")) == lists_before + 1
    assert not standin.requests_to("/transcripts/")
    run = defs.resolve_job_def(EPISODES_JOB).execute_in_process(instance=instance, partition_key=alpha)
    assert run.success
    doc = json.loads(paths.episode_file(alpha, "transcript.json").read_text())
    assert doc["source"] == "pocketcasts" and doc["segments"][0]["text"] == "Pocket Casts transcribed Alpha talk here."
    assert json.loads(paths.episode_file(alpha, "speech-local.json").read_text())["segments"]  # kept on disk

    # `cast-pipeline run` path: it finds Beta on its own (Alpha is done) and updates the search index.
    second = runner.invoke(app, ["run"], terminal_width=200)
    assert second.exit_code == 0, second.output
    doc = json.loads(paths.episode_file(beta, "transcript.json").read_text())
    assert doc["source"] == "pocketcasts" and doc["segments"][0]["text"] == "Pocket Casts transcribed Beta talk here."
    assert json.loads(paths.episode_file(beta, "speech-local.json").read_text())["segments"]
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("transcript"), asset_partitions=[beta]), limit=1
    ).records
    assert records[0].asset_materialization.metadata["previous_source"].value == "faster-whisper:tiny.en"
    assert {h["episode_key"] for h in _search("Pocket Casts transcribed")} == {alpha, beta}
    assert not [h for h in _search("country") if h["result_type"] == "segment"]  # the speech text left the index
