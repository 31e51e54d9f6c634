"""Partition keys: stable, readable, filename-safe, collision-free across feeds."""

from __future__ import annotations

import pytest

from cast_pipeline.keys import (
    InvalidKeyError,
    episode_key,
    feed_key,
    feed_key_of,
    is_valid_key,
    normalize_feed_url,
)


def test_feed_key_is_a_slug_plus_hash_of_the_normalised_url() -> None:
    key = feed_key("https://WWW.Example.com:443/podcast/feed.xml")
    assert key.startswith("example-com-podcast-feed-xml-") and len(key.rsplit("-", 1)[1]) == 8
    assert key == feed_key("https://www.example.com/podcast/feed.xml#top")
    assert key != feed_key("http://www.example.com/podcast/feed.xml")  # another URL is another feed


def test_episode_key_is_stable_and_scoped_to_its_feed() -> None:
    a, b = feed_key("https://a.example/feed"), feed_key("https://b.example/feed")
    assert episode_key(a, "guid-1") == episode_key(a, "guid-1")
    assert episode_key(a, "guid-1") != episode_key(b, "guid-1")
    assert feed_key_of(episode_key(a, "guid-1")) == a


def test_guid_falls_back_to_the_enclosure_url() -> None:
    fk = feed_key("https://a.example/feed")
    assert episode_key(fk, None, "https://cdn.example/ep1.mp3") == episode_key(fk, "", "https://cdn.example/ep1.mp3")
    with pytest.raises(InvalidKeyError, match="neither a GUID nor an enclosure"):
        episode_key(fk, None, None)


@pytest.mark.parametrize("guid", ["../../etc/passwd", "🎙️ episode 🎧", "a" * 5000, "Ünïcödé—ep/1?x=2&y", "---", "//"])
def test_hostile_guids_give_safe_distinct_keys(guid: str) -> None:
    fk = feed_key("https://a.example/feed")
    key = episode_key(fk, guid)
    assert is_valid_key(key) and "/" not in key and ".." not in key and len(key) < 120
    assert key != episode_key(fk, guid + "x")


def test_file_urls_are_feeds_too() -> None:
    assert normalize_feed_url("file:///tmp/demo/feeds/show.xml") == "file:///tmp/demo/feeds/show.xml"
    assert feed_key("file:///tmp/demo/feeds/show.xml").startswith("feeds-show-xml-")


def test_invalid_keys_are_recognised() -> None:
    assert not is_valid_key("../x")
    assert not is_valid_key("a--b--c")
    with pytest.raises(InvalidKeyError):
        feed_key_of("no-separator")
