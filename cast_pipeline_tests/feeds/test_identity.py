"""One episode stays one partition when its feed re-issues items under new GUIDs or moves (real feed files)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from cast_pipeline.feeds.catalog import read_feed_episodes
from cast_pipeline.feeds.identity import keep_keys
from cast_pipeline.feeds.parse import parse_feed
from cast_pipeline.feeds.refresh import read_fetch_state, refresh_feed
from cast_pipeline.keys import feed_key
from cast_pipeline.paths import DataPaths
from cast_pipeline.settings import load_settings
from cast_pipeline_tests.httpserver import LocalHTTPServer

DATA = Path(__file__).parent / "data"
URL = "https://old-host.example.org/feed.xml"


def _parse(name: str):
    return parse_feed((DATA / name).read_bytes(), URL).episodes


def test_a_host_migration_keeps_every_old_episode_under_its_key() -> None:
    before, after = _parse("guid-change-before.xml"), _parse("guid-change-after.xml")
    assert not {e.key for e in before} & {e.key for e in after}  # every GUID changed: every key would change
    kept, notes = keep_keys(before, after)
    old = {e.title: e.key for e in before}
    by_title = {e.title: e for e in kept}
    assert by_title["Episode 2: Moving day"].key == old["Episode 2: Moving day"]  # same enclosure
    assert by_title["Episode 2: Moving day"].guid == "a7f3c2d1-0002"  # the item as it is now
    assert by_title["Episode 1:  hello"].key == old["Episode 1: Hello"]  # audio moved: same title and day
    assert by_title["Episode 3: Settled in"].key not in old.values()  # a genuinely new episode
    assert notes == [
        f"item 'Episode 2: Moving day' changed its GUID ('oldhost-0002' -> 'a7f3c2d1-0002'); same enclosure, "
        f"kept as episode {old['Episode 2: Moving day']}",
        f"item 'Episode 1:  hello' changed its GUID ('oldhost-0001' -> 'a7f3c2d1-0001'); same title and date, "
        f"kept as episode {old['Episode 1: Hello']}",
    ]


def test_nothing_vanished_nothing_changes() -> None:
    before = _parse("guid-change-before.xml")
    assert keep_keys(before, before) == (before, [])
    assert keep_keys([], before) == (before, [])


def test_one_vanished_item_is_claimed_once() -> None:
    before, after = _parse("guid-change-before.xml"), _parse("guid-change-after.xml")
    doubled = [after[1], replace(after[1], key=after[1].key + "x", guid="dup")]
    kept, notes = keep_keys(before, doubled)
    assert [e.key for e in kept].count(before[0].key) == 1 and len(notes) == 1


def test_refresh_keeps_the_keys_and_says_so(http_server: LocalHTTPServer, paths: DataPaths) -> None:
    settings = load_settings()
    url = http_server.add(
        "/feed.xml", (DATA / "guid-change-before.xml").read_bytes(), "application/rss+xml", etag='"1"'
    )
    first = refresh_feed(url, paths, settings)
    http_server.add("/feed.xml", (DATA / "guid-change-after.xml").read_bytes(), "application/rss+xml", etag='"2"')
    second = refresh_feed(url, paths, settings)
    assert set(first.keys) < set(second.keys) and len(second.keys) == 3  # only episode 3 is new
    assert sum("changed its GUID" in p for p in second.problems) == 2
    stored = {e.key: e.guid for e in read_feed_episodes(paths, feed_key(url))}
    assert stored[first.keys[0]] == "a7f3c2d1-0001" and stored[first.keys[1]] == "a7f3c2d1-0002"


def _serve(server: LocalHTTPServer, path: str, name: str, etag: str) -> str:
    body = (DATA / name).read_text(encoding="utf-8").replace("BASE", server.base_url)
    return server.add(path, body, "application/rss+xml", etag=etag)


def test_itunes_new_feed_url_moves_the_fetching_not_the_keys(http_server: LocalHTTPServer, paths: DataPaths) -> None:
    settings = load_settings()
    old = _serve(http_server, "/old.xml", "moved-old.xml", '"o"')
    _serve(http_server, "/new.xml", "moved-new.xml", '"n"')
    first = refresh_feed(old, paths, settings)
    assert f"the feed moved to {http_server.url('/new.xml')} (itunes:new-feed-url)" in first.problems[-1]
    second = refresh_feed(old, paths, settings)
    assert [r.path for r in http_server.requests] == ["/old.xml", "/new.xml"]  # fetched where it is now
    assert first.keys[0] in second.keys and len(second.keys) == 2  # the old episode kept its key
    assert all(k.startswith(feed_key(old) + "--") for k in second.keys)  # keys still from the registered URL


@pytest.mark.parametrize(("status", "moves"), [(301, True), (308, True), (302, False)])
def test_a_permanent_redirect_moves_the_feed_a_temporary_one_does_not(
    http_server: LocalHTTPServer, paths: DataPaths, status: int, moves: bool
) -> None:
    settings = load_settings()
    _serve(http_server, "/new.xml", "guid-change-before.xml", '"n"')  # a feed without itunes:new-feed-url
    old = http_server.redirect("/old.xml", http_server.url("/new.xml"), status)
    first = refresh_feed(old, paths, settings)
    refresh_feed(old, paths, settings)
    assert len(http_server.requests_to("/old.xml")) == (1 if moves else 2)
    assert any("the feed moved to" in p for p in first.problems) == moves
    assert read_fetch_state(paths, feed_key(old)).get("moved_to") == (http_server.url("/new.xml") if moves else None)


def test_the_same_podcast_guid_at_a_new_url_moves_the_old_feed_and_adds_no_duplicates(
    http_server: LocalHTTPServer, paths: DataPaths
) -> None:
    settings = load_settings()
    old = _serve(http_server, "/old.xml", "same-show-old.xml", '"o"')
    new = _serve(http_server, "/new.xml", "same-show-new.xml", '"n"')
    first = refresh_feed(old, paths, settings)
    assert len(first.keys) == 1

    # The user adds the show's new address; it declares the same <podcast:guid>.
    added = refresh_feed(new, paths, settings)
    assert added.keys == [] and added.episodes == []  # no duplicates under the new URL
    assert f"same show as {old} (podcast:guid 917393e3-1b1e-5cef-ace4-edaa54e1f810" in added.problems[-1]
    assert read_fetch_state(paths, feed_key(old))["moved_to"] == new

    moved = refresh_feed(old, paths, settings)  # the old feed record follows the new URL
    assert first.keys[0] in moved.keys and len(moved.keys) == 2  # episode 1 kept its key; episode 2 is new
    assert all(k.startswith(feed_key(old) + "--") for k in moved.keys)
    assert [r.path for r in http_server.requests] == ["/old.xml", "/new.xml", "/new.xml"]

    again = refresh_feed(new, paths, settings)  # the new address is not fetched a second time
    assert again.keys == [] and len(http_server.requests) == 3 and "same show as" in again.problems[0]


def test_a_different_podcast_guid_is_a_different_show(http_server: LocalHTTPServer, paths: DataPaths) -> None:
    settings = load_settings()
    old = _serve(http_server, "/old.xml", "same-show-old.xml", '"o"')
    other = (DATA / "same-show-new.xml").read_text(encoding="utf-8").replace("917393e3", "00000000")
    new = http_server.add("/new.xml", other, "application/rss+xml", etag='"n"')
    refresh_feed(old, paths, settings)
    assert len(refresh_feed(new, paths, settings).keys) == 2
    assert "moved_to" not in read_fetch_state(paths, feed_key(old))
