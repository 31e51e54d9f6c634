"""Items that leave their feed are marked removed (kept on disk) and un-marked when they come back."""

from __future__ import annotations

from pathlib import Path

from cast_pipeline.feeds.catalog import read_feed_episodes
from cast_pipeline.feeds.refresh import refresh_feed
from cast_pipeline.feeds.removed import read_removed, removed_keys
from cast_pipeline.paths import DataPaths
from cast_pipeline.settings import load_settings
from cast_pipeline_tests.httpserver import LocalHTTPServer

DATA = Path(__file__).parent / "data"


def _serve(server: LocalHTTPServer, name: str, etag: str) -> str:
    return server.add("/feed.xml", (DATA / name).read_bytes(), "application/rss+xml", etag=etag)


def test_a_retracted_item_is_marked_removed_and_unmarked_when_it_returns(
    http_server: LocalHTTPServer, paths: DataPaths
) -> None:
    settings = load_settings()
    url = _serve(http_server, "guid-change-before.xml", '"1"')
    first = refresh_feed(url, paths, settings)
    by_title = {ep.title: ep.key for ep in first.episodes}
    gone = by_title["Episode 2: Moving day"]
    assert removed_keys(paths) == set()

    _serve(http_server, "retracted.xml", '"2"')
    second = refresh_feed(url, paths, settings)
    assert second.keys == [by_title["Episode 1: Hello"]]
    assert "1 item(s) left the feed ('Episode 2: Moving day'): marked removed" in second.problems[-1]
    assert removed_keys(paths) == {gone}
    assert read_removed(paths, first.feed_key)[gone]["title"] == "Episode 2: Moving day"
    assert [ep.key for ep in read_feed_episodes(paths, first.feed_key)] == [by_title["Episode 1: Hello"]]

    third = refresh_feed(url, paths, settings)  # unchanged (304): still removed, no second note
    assert third.not_modified and removed_keys(paths) == {gone}

    _serve(http_server, "guid-change-before.xml", '"3"')  # the publisher puts it back
    fourth = refresh_feed(url, paths, settings)
    assert gone in fourth.keys and removed_keys(paths) == set()
    assert not any("left the feed" in p for p in fourth.problems)
