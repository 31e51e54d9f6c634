"""The awaiting window on a real instance: wait, look again (one GET per feed), then transcript or audio."""

from __future__ import annotations

import email.utils
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from cast_pipeline.definitions import defs
from cast_pipeline.defs.jobs import EPISODES_JOB
from cast_pipeline.defs.storage.resources import CastResource
from cast_pipeline.defs.transcripts.sensors import awaiting_transcripts
from cast_pipeline.paths import DataPaths
from cast_pipeline.transcripts.status import episode_rows
from cast_pipeline_tests.defs.feedkit import VTT
from cast_pipeline_tests.defs.speech.speechkit import latest_metadata, register_feed, run_range
from cast_pipeline_tests.httpserver import LocalHTTPServer

NO_SPEECH = [dg.AssetKey(k) for k in ("episode", "publisher_transcript", "audio", "transcript")]


def _feed(server: LocalHTTPServer, items: list[tuple[str, datetime, bool]], etag: str) -> str:
    """Serve a feed of (title, published, has a publisher transcript) with real audio enclosures."""
    base = server.base_url
    parts = []
    for title, published, transcript in items:
        guid = title.lower()
        tag = f'<podcast:transcript url="{base}/t/{guid}.vtt" type="text/vtt"/>' if transcript else ""
        parts.append(
            f"<item><title>{title}</title><guid>{guid}</guid>"
            f"<pubDate>{email.utils.format_datetime(published, usegmt=True)}</pubDate>"
            f'<enclosure url="{base}/a/{guid}.wav" type="audio/wav" length="1000"/>{tag}</item>'
        )
        server.add(f"/t/{guid}.vtt", VTT.format(topic=title), "text/vtt")
    body = (
        '<?xml version="1.0"?><rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0"><channel>'
        f"<title>Daily</title><link>{base}</link>{''.join(parts)}</channel></rss>"
    )
    return server.add("/daily.xml", body, "application/rss+xml", etag=etag)


def _tick(instance: dg.DagsterInstance, data_dir: Path, cursor: str | None) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"cast": CastResource(data_dir=str(data_dir))}
    )
    result = awaiting_transcripts(context)
    assert isinstance(result, dg.SensorResult)
    return result


def _keys(request: dg.RunRequest) -> list[str]:
    if request.partition_key:
        return [request.partition_key]
    return [request.tags[ASSET_PARTITION_RANGE_START_TAG], request.tags[ASSET_PARTITION_RANGE_END_TAG]]


def _make_due(paths: DataPaths, key: str) -> None:
    """Six hours pass for this episode: its next look is now."""
    path = paths.episode_file(key, "await.json")
    state = json.loads(path.read_text())
    path.write_text(json.dumps({**state, "next_check": (datetime.now(UTC) - timedelta(minutes=1)).isoformat()}))


@pytest.mark.slow
def test_wait_then_the_late_transcript_or_audio_at_the_windows_end(
    http_server: LocalHTTPServer, data_dir: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    for guid in ("fresh", "quiet", "old"):
        http_server.add(f"/a/{guid}.wav", (shared_data / "audio" / "jfk.wav").read_bytes(), "audio/wav", ranges=True)
    items = [("Fresh", now - timedelta(hours=20), False), ("Quiet", now - timedelta(hours=30), False)]
    items.append(("Old", now - timedelta(days=40), False))
    url = _feed(http_server, items, '"v1"')
    paths = DataPaths(data_dir)
    with dg.instance_for_test() as instance:
        keys = register_feed(defs, instance, url, data_dir)
        assert run_range(defs, EPISODES_JOB, instance, list(keys.values()), asset_selection=NO_SPEECH).success

        def meta(asset: str, title: str) -> dict:
            found = latest_metadata(instance, asset, keys[title])
            assert found is not None
            return found

        # Young episodes wait: no audio. The back catalog goes to audio at once.
        assert meta("publisher_transcript", "Fresh")["status"] == "awaiting_transcript"
        assert "CAST_AWAIT_TRANSCRIPT_DAYS=7" in meta("publisher_transcript", "Fresh")["awaiting"]
        assert meta("audio", "Fresh")["status"] == "awaiting_transcript"
        assert meta("audio", "Old")["status"] == "downloaded"
        assert meta("transcript", "Quiet")["status"] == "awaiting_transcript"
        assert not list(paths.episode_dir(keys["Fresh"]).glob("audio.*"))
        rows = {r.title: r for r in episode_rows(paths)}
        assert rows["Fresh"].status == "awaiting_transcript" and "next look" in rows["Fresh"].reason

        first = _tick(instance, data_dir, None)
        assert first.run_requests == [] and "2 episodes awaiting a transcript, none due" in str(first.skip_reason)
        feed_gets = len(http_server.requests_to("/daily.xml"))

        # The publisher adds a transcript to Fresh; six hours later both are due for a look.
        _feed(http_server, [("Fresh", items[0][1], True), *items[1:]], '"v2"')
        _make_due(paths, keys["Fresh"])
        _make_due(paths, keys["Quiet"])
        second = _tick(instance, data_dir, first.cursor)
        assert len(http_server.requests_to("/daily.xml")) == feed_gets + 1  # one conditional GET for both
        assert http_server.requests_to("/daily.xml")[-1].headers.get("if-none-match") == '"v1"'
        due = sorted(k for r in second.run_requests for k in _keys(r))
        assert due == sorted([keys["Fresh"], keys["Quiet"]])
        for request in second.run_requests:
            assert run_range(defs, EPISODES_JOB, instance, _keys(request), asset_selection=NO_SPEECH).success

        assert meta("publisher_transcript", "Fresh")["status"] == "found"
        assert meta("audio", "Fresh")["status"] == "not_needed"
        assert meta("transcript", "Fresh")["source"] == "podcast2.0:vtt"
        quiet = meta("publisher_transcript", "Quiet")
        assert quiet["status"] == "awaiting_transcript" and quiet["next_check"] > datetime.now(UTC).isoformat()
        assert json.loads(paths.episode_file(keys["Quiet"], "await.json").read_text())["checks"] == 2

        # A week later Quiet still has none: at its last look it goes to audio.
        monkeypatch.setenv("CAST_AWAIT_TRANSCRIPT_DAYS", "1")  # 30 h old: past a one-day window
        _make_due(paths, keys["Quiet"])
        third = _tick(instance, data_dir, second.cursor)
        assert [_keys(r) for r in third.run_requests] == [[keys["Quiet"]]]
        assert run_range(defs, EPISODES_JOB, instance, [keys["Quiet"]], asset_selection=NO_SPEECH).success
        assert meta("publisher_transcript", "Quiet")["status"] == "none"
        assert "within 1 days (3 looks): going to audio" in meta("publisher_transcript", "Quiet")["awaiting"]
        assert meta("audio", "Quiet")["status"] == "downloaded"
        assert "0 episodes awaiting" in str(_tick(instance, data_dir, third.cursor).skip_reason)


def test_a_feed_can_opt_out_of_waiting_in_the_feeds_file(
    http_server: LocalHTTPServer, data_dir: Path, tmp_path: Path
) -> None:
    url = _feed(http_server, [("Fresh", datetime.now(UTC) - timedelta(hours=2), False)], '"v1"')
    (tmp_path / "feeds.yaml").write_text(f"feeds:\n  - url: {url}\n    await_transcript_days: 0\n")
    with dg.instance_for_test() as instance:
        keys = register_feed(defs, instance, url, data_dir)
        selection = [dg.AssetKey("episode"), dg.AssetKey("publisher_transcript")]
        assert run_range(defs, EPISODES_JOB, instance, list(keys.values()), asset_selection=selection).success
        meta = latest_metadata(instance, "publisher_transcript", keys["Fresh"])
        assert meta is not None and meta["status"] == "none" and meta["needs_audio"] is True
        assert "the awaiting window is 0 days: straight to audio" in meta["awaiting"]
