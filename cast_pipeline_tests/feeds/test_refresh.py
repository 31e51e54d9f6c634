"""Refreshing a feed against a real HTTP server: conditional GETs, storage, and error recording."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cast_pipeline.feeds.catalog import read_feed_episodes
from cast_pipeline.feeds.parse import FeedError
from cast_pipeline.feeds.refresh import read_fetch_state, refresh_feed
from cast_pipeline.keys import feed_key
from cast_pipeline.paths import DataPaths
from cast_pipeline.settings import Settings, load_settings
from cast_pipeline_tests.httpserver import LocalHTTPServer

STAMP = "Wed, 21 Jan 2026 13:38:48 GMT"


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return load_settings(user_agent="refresh-test/1.0", http_timeout="5")


def example_feed(shared_data: Path, server: LocalHTTPServer) -> bytes:
    text = (shared_data / "feeds" / "podcast-namespace-example.xml").read_text(encoding="utf-8")
    return text.replace("https://example.com", server.base_url).encode()


def test_first_refresh_stores_body_catalog_and_validators(
    http_server: LocalHTTPServer, shared_data: Path, paths: DataPaths, settings: Settings
) -> None:
    body = example_feed(shared_data, http_server)
    url = http_server.add("/feed.xml", body, "application/rss+xml", etag='"e1"', last_modified=STAMP)
    result = refresh_feed(url, paths, settings)
    fk = feed_key(url)
    assert result.feed_key == fk and not result.not_modified and result.feed is not None
    assert result.episodes[0].title == "Episode 3 - The Future"
    assert result.episodes[0].transcripts[0].url == http_server.url("/ep3/transcript.txt")
    assert paths.feed_body(fk).read_bytes() == body
    assert read_feed_episodes(paths, fk) == result.episodes
    state = read_fetch_state(paths, fk)
    assert state["etag"] == '"e1"' and state["last_modified"] == STAMP and state["last_error"] is None
    assert state["title"] == "Podcasting 2.0 Namespace Example" and state["episodes"] == 3
    assert http_server.requests_to("/feed.xml")[0].headers["user-agent"] == "refresh-test/1.0"


def test_second_refresh_sends_if_none_match_and_answers_304_from_the_catalog(
    http_server: LocalHTTPServer, shared_data: Path, paths: DataPaths, settings: Settings
) -> None:
    url = http_server.add("/feed.xml", example_feed(shared_data, http_server), etag='"e1"')
    first = refresh_feed(url, paths, settings)
    second = refresh_feed(url, paths, settings)
    conditional = http_server.requests_to("/feed.xml")[1].headers
    assert conditional["if-none-match"] == '"e1"'
    assert second.not_modified and second.feed == first.feed and second.keys == first.keys
    assert second.parsed is None  # a 304 decodes no episodes unless asked for...
    assert second.episodes == first.episodes  # ...and then reads them from the catalog
    assert read_fetch_state(paths, first.feed_key)["status"] == 304


def test_last_modified_alone_is_used_for_revalidation(
    http_server: LocalHTTPServer, shared_data: Path, paths: DataPaths, settings: Settings
) -> None:
    url = http_server.add("/feed.xml", example_feed(shared_data, http_server), last_modified=STAMP)
    refresh_feed(url, paths, settings)
    assert refresh_feed(url, paths, settings).not_modified
    assert http_server.requests_to("/feed.xml")[1].headers["if-modified-since"] == STAMP
    assert "if-none-match" not in http_server.requests_to("/feed.xml")[1].headers


def test_without_validators_identical_bytes_count_as_not_modified_and_changes_are_picked_up(
    http_server: LocalHTTPServer, shared_data: Path, paths: DataPaths, settings: Settings
) -> None:
    body = example_feed(shared_data, http_server)
    url = http_server.add("/feed.xml", body)
    refresh_feed(url, paths, settings)
    assert refresh_feed(url, paths, settings).not_modified
    new_item = b"<item><title>Episode 4</title><guid>ep4</guid><enclosure url='/4.mp3' type='audio/mpeg'/></item>"
    http_server.add("/feed.xml", body.replace(b"<item>", new_item + b"<item>", 1))
    changed = refresh_feed(url, paths, settings)
    assert not changed.not_modified and changed.episodes[0].title == "Episode 4" and len(changed.episodes) == 4
    assert len(read_feed_episodes(paths, changed.feed_key)) == 4


def test_a_lost_catalog_forces_an_unconditional_fetch(
    http_server: LocalHTTPServer, shared_data: Path, paths: DataPaths, settings: Settings
) -> None:
    url = http_server.add("/feed.xml", example_feed(shared_data, http_server), etag='"e1"')
    first = refresh_feed(url, paths, settings)
    paths.episodes_catalog(first.feed_key).unlink()
    again = refresh_feed(url, paths, settings)
    assert not again.not_modified and len(again.episodes) == 3
    assert "if-none-match" not in http_server.requests_to("/feed.xml")[1].headers


def test_a_redirected_feed_keeps_its_registered_key_and_resolves_links_against_the_final_url(
    http_server: LocalHTTPServer, paths: DataPaths, settings: Settings
) -> None:
    body = b"<rss version='2.0'><channel><title>M</title><item><guid>1</guid><enclosure url='a.mp3'/></item>"
    body += b"</channel></rss>"
    http_server.add("/new/feed.xml", body)
    url = http_server.redirect("/old.xml", "/new/feed.xml", status=301)
    result = refresh_feed(url, paths, settings)
    assert result.feed_key == feed_key(url)
    assert result.episodes[0].enclosure_url == http_server.url("/new/a.mp3")
    assert read_fetch_state(paths, result.feed_key)["final_url"] == http_server.url("/new/feed.xml")


def test_errors_name_the_feed_are_recorded_and_keep_the_previous_catalog(
    http_server: LocalHTTPServer, shared_data: Path, paths: DataPaths, settings: Settings
) -> None:
    body = example_feed(shared_data, http_server)
    url = http_server.add("/feed.xml", body)
    fk = refresh_feed(url, paths, settings).feed_key
    http_server.add("/feed.xml", "boom", status=500)
    with pytest.raises(FeedError, match="HTTP 500") as info:
        refresh_feed(url, paths, settings)
    assert info.value.url == url and url in str(info.value)
    state = read_fetch_state(paths, fk)
    assert "HTTP 500" in state["last_error"] and state["last_error_at"]
    assert len(read_feed_episodes(paths, fk)) == 3 and paths.feed_body(fk).read_bytes() == body
    http_server.add("/feed.xml", body)
    refresh_feed(url, paths, settings)
    assert read_fetch_state(paths, fk)["last_error"] is None


def test_an_html_page_is_rejected_without_writing_a_catalog(
    http_server: LocalHTTPServer, paths: DataPaths, settings: Settings
) -> None:
    url = http_server.add("/podcast", "<!doctype html><html><body>Listen on our site!</body></html>", "text/html")
    with pytest.raises(FeedError, match="HTML page"):
        refresh_feed(url, paths, settings)
    fk = feed_key(url)
    assert not paths.episodes_catalog(fk).exists() and not paths.feed_body(fk).exists()
    assert "HTML page" in read_fetch_state(paths, fk)["last_error"]


def test_an_oversized_feed_points_at_the_setting(
    http_server: LocalHTTPServer, paths: DataPaths, data_dir: Path
) -> None:
    url = http_server.add("/huge.xml", b"<rss>" + b" " * 5000 + b"</rss>")
    with pytest.raises(FeedError, match="CAST_MAX_FEED_BYTES"):
        refresh_feed(url, paths, load_settings(max_feed_bytes="1000"))


def test_a_local_feed_file_is_not_reparsed_when_unchanged(tmp_path: Path, paths: DataPaths, settings: Settings) -> None:
    feed = tmp_path / "demo.xml"
    feed.write_bytes(b"<rss version='2.0'><channel><title>Local</title><item><guid>1</guid></item></channel></rss>")
    first = refresh_feed(feed.as_uri(), paths, settings)
    assert first.feed is not None and first.feed.title == "Local"
    second = refresh_feed(feed.as_uri(), paths, settings)
    assert second.not_modified and second.episodes == first.episodes


def test_a_corrupt_state_file_only_costs_a_full_fetch(
    http_server: LocalHTTPServer, shared_data: Path, paths: DataPaths, settings: Settings
) -> None:
    url = http_server.add("/feed.xml", example_feed(shared_data, http_server), etag='"e1"')
    fk = refresh_feed(url, paths, settings).feed_key
    paths.feed_fetch_state(fk).write_text("{not json")
    assert len(refresh_feed(url, paths, settings).episodes) == 3
    assert json.loads(paths.feed_fetch_state(fk).read_text())["etag"] == '"e1"'
