"""Feed parsing: what we read from real and hand-made RSS/Atom, and how bad input is reported."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from cast_pipeline.feeds.model import TranscriptLink
from cast_pipeline.feeds.parse import FeedError, parse_duration, parse_feed
from cast_pipeline.keys import episode_key, feed_key, feed_key_of, is_valid_key
from cast_pipeline.paths import DataPaths

FEED_URL = "https://shows.example.org/podcasts/demo/feed.xml"
PODCAST_NS = "https://podcastindex.org/namespace/1.0"


def rss(items: str, channel_extra: str = "<language>en-us</language>", ns: str = PODCAST_NS) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:podcast="{ns}" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"
     xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel><title>Demo Show</title><description>About the show</description>{channel_extra}
  {items}
  </channel>
</rss>""".encode()


def item(
    guid: str | None = "ep-1", title: str = "Episode 1", extra: str = "", enclosure: str | None = "ep1.mp3"
) -> str:
    guid_tag = f"<guid isPermaLink='false'>{guid}</guid>" if guid is not None else ""
    enc = f'<enclosure url="{enclosure}" type="audio/mpeg" length="1234"/>' if enclosure else ""
    return f"<item><title>{title}</title>{guid_tag}{enc}{extra}</item>"


def test_the_namespace_example_feed_reads_every_transcript_and_skips_the_live_item(shared_data: Path) -> None:
    body = (shared_data / "feeds" / "podcast-namespace-example.xml").read_bytes()
    parsed = parse_feed(body, "https://example.com/feed.xml")
    assert parsed.problems == []
    titles = ["Episode 3 - The Future", "Episode 2 - The Present", "Episode 1 - The Past"]
    assert [e.title for e in parsed.episodes] == titles
    ep3 = parsed.episodes[0]
    # feedparser alone keeps only the last of these two tags
    assert ep3.transcripts == (
        TranscriptLink("https://example.com/ep3/transcript.txt", "text/plain"),
        TranscriptLink("https://example.com/episode1/transcript.vtt", "text/vtt", "es", "captions"),
    )
    assert ep3.enclosure_url == "https://example.com/file-03.mp3" and ep3.enclosure_length == 43200000
    assert ep3.published == datetime(2020, 10, 9, 4, 30, 38, tzinfo=UTC)
    assert ep3.language == "en-US" and ep3.image == "https://example.com/ep0003/artMd.jpg"
    # channel fields come from the channel, not from the <podcast:liveItem> before the items
    feed = parsed.feed
    assert feed.description.startswith("This is a fake show") and feed.link == "https://example.com/podcast"
    assert feed.podcast_guid == "y0ur-gu1d-g035-h3r3" and feed.language == "en-US"
    assert "https://example.com/live" not in {e.guid for e in parsed.episodes}


def test_keys_come_from_the_registered_url_and_the_guid() -> None:
    parsed = parse_feed(rss(item("abc-123")), FEED_URL, base_url="https://cdn.example.net/moved/feed.xml")
    fk = feed_key(FEED_URL)
    assert parsed.feed.key == fk and parsed.feed.url == FEED_URL
    assert parsed.episodes[0].key == episode_key(fk, "abc-123")
    assert parse_feed(rss(item("abc-123")), FEED_URL).episodes[0].key == parsed.episodes[0].key


def test_relative_urls_resolve_against_the_final_feed_url() -> None:
    extra = '<link>/show/ep1</link><itunes:image href="art/ep1.jpg"/>'
    extra += '<podcast:transcript url="t/ep1.vtt" type="text/vtt"/>'
    body = rss(item(extra=extra, enclosure="../audio/ep1.mp3"))
    parsed = parse_feed(body, FEED_URL, base_url="https://cdn.example.net/a/feed.xml")
    ep = parsed.episodes[0]
    assert ep.enclosure_url == "https://cdn.example.net/audio/ep1.mp3"
    assert ep.link == "https://cdn.example.net/show/ep1"
    assert ep.image == "https://cdn.example.net/a/art/ep1.jpg"
    assert ep.transcripts[0].url == "https://cdn.example.net/a/t/ep1.vtt"


def test_relative_urls_in_a_local_feed_become_file_urls(tmp_path: Path) -> None:
    url = (tmp_path / "feed.xml").as_uri()
    ep = parse_feed(rss(item(enclosure="audio/ep1.mp3")), url).episodes[0]
    assert ep.enclosure_url == (tmp_path / "audio" / "ep1.mp3").as_uri()


def test_dates_are_utc_and_languages_fall_back_to_the_channel() -> None:
    body = rss(
        item("a", extra="<pubDate>Mon, 06 Jan 2025 10:00:00 +0200</pubDate><dc:language>fr</dc:language>")
        + item("b", title="B", extra="<pubDate>not a date</pubDate>")
    )
    first, second = parse_feed(body, FEED_URL).episodes
    assert first.published == datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
    assert first.language == "fr"
    assert second.published is None and second.language == "en-us"


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        ("1:02:03", 3723.0),
        ("62:03", 3723.0),
        ("3723", 3723.0),
        ("90.5", 90.5),
        ("00:00:07.25", 7.25),
        ("", None),
        ("bogus", None),
        ("1:2:3:4", None),
        ("-5", None),
    ],
)
def test_itunes_duration_forms(raw: str, seconds: float | None) -> None:
    assert parse_duration(raw) == seconds


def test_an_unreadable_duration_is_reported_not_fatal() -> None:
    parsed = parse_feed(rss(item(extra="<itunes:duration>about an hour</itunes:duration>")), FEED_URL)
    assert parsed.episodes[0].duration_seconds is None
    assert parsed.problems == ["item 1 ('Episode 1') has an unreadable itunes:duration 'about an hour'; ignored"]


def test_items_without_guid_use_the_enclosure_and_items_with_neither_are_reported() -> None:
    body = rss(item(None, "No guid", enclosure="https://cdn.example.net/e.mp3") + item(None, "Orphan", enclosure=None))
    parsed = parse_feed(body, FEED_URL)
    assert [e.title for e in parsed.episodes] == ["No guid"]
    assert parsed.episodes[0].key == episode_key(feed_key(FEED_URL), None, "https://cdn.example.net/e.mp3")
    assert parsed.problems == ["item 2 ('Orphan') has neither a GUID nor an enclosure URL; skipped"]


def test_duplicate_guids_keep_the_first_item() -> None:
    parsed = parse_feed(rss(item("same", "First") + item("same", "Second")), FEED_URL)
    assert [e.title for e in parsed.episodes] == ["First"]
    assert parsed.problems == ["item 2 ('Second') repeats the GUID 'same'; kept the first"]


@pytest.mark.parametrize("guid", ["../../etc/passwd", "🎙️ épisode ✨", "x" * 5000, "a/b\\c:d*?"])
def test_hostile_guids_give_safe_keys_and_paths_inside_the_data_dir(guid: str, tmp_path: Path) -> None:
    parsed = parse_feed(rss(item(guid)), FEED_URL)
    ep = parsed.episodes[0]
    assert ep.guid == guid
    assert is_valid_key(ep.key) and feed_key_of(ep.key) == ep.feed_key and len(ep.key) < 120
    paths = DataPaths(tmp_path)
    target = paths.episode_file(ep.key, "episode.json").resolve()
    assert target.is_relative_to(tmp_path.resolve())


def test_a_non_url_guid_is_not_used_as_the_episode_link() -> None:
    body = rss("<item><title>T</title><guid>plain-id</guid><enclosure url='a.mp3' type='audio/mpeg'/></item>")
    assert parse_feed(body, FEED_URL).episodes[0].link is None


def test_atom_entries_and_alternative_namespace_uris_are_read() -> None:
    body = b"""<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="de"
      xmlns:podcast="https://github.com/Podcastindex-org/podcast-namespace/blob/main/docs/1.0.md">
  <title>Atom Show</title><id>urn:show</id><updated>2024-01-01T00:00:00Z</updated>
  <entry><id>urn:ep:1</id><title>Eins</title><updated>2024-01-02T03:04:05Z</updated>
    <link rel="enclosure" href="/a.mp3" type="audio/mpeg" length="5"/>
    <podcast:transcript url="/a.srt" type="application/x-subrip"/>
    <podcast:transcript url="/a.json" type="application/json"/>
  </entry>
</feed>"""
    parsed = parse_feed(body, FEED_URL)
    ep = parsed.episodes[0]
    assert parsed.feed.title == "Atom Show" and ep.guid == "urn:ep:1"
    assert [t.url for t in ep.transcripts] == ["https://shows.example.org/a.srt", "https://shows.example.org/a.json"]
    assert ep.published == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_a_transcript_tag_without_url_is_reported() -> None:
    parsed = parse_feed(rss(item(extra='<podcast:transcript type="text/vtt"/>')), FEED_URL)
    assert parsed.episodes[0].transcripts == ()
    assert parsed.problems == ["item 1 ('Episode 1') has a <podcast:transcript> without a url; ignored"]


def test_a_feed_without_items_is_valid() -> None:
    parsed = parse_feed(rss(""), FEED_URL)
    assert parsed.episodes == [] and parsed.feed.title == "Demo Show"


def test_truncated_xml_keeps_the_recoverable_items_and_says_so() -> None:
    extra = '<podcast:transcript url="a.vtt" type="text/vtt"/><podcast:transcript url="a.srt" type="text/srt"/>'
    body = rss(item("a", extra=extra) + item("b", "Episode 2"))
    body = body[: body.index(b"</channel>") - 4]
    parsed = parse_feed(body, FEED_URL)
    assert [e.guid for e in parsed.episodes] == ["a", "b"]
    assert any("not well-formed" in p for p in parsed.problems)
    # the lenient fallback still finds a transcript link
    assert len(parsed.episodes[0].transcripts) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"  \n ", "empty"),
        (b"<!DOCTYPE html><html><head><title>Shop</title></head><body><p>Buy!</p></body></html>", "HTML page"),
        (b'<?xml version="1.0"?><note><to>you</to></note>', "not an RSS or Atom feed"),
        (b'{"feed": "json"}', "not an RSS or Atom feed"),
        (b"<rss version='2.0'><channel><<<", "malformed"),
    ],
)
def test_things_that_are_not_feeds_raise_feed_error_naming_the_url(body: bytes, message: str) -> None:
    with pytest.raises(FeedError, match=message) as info:
        parse_feed(body, FEED_URL)
    assert info.value.url == FEED_URL and FEED_URL in str(info.value)


def test_a_live_item_between_items_is_neither_an_episode_nor_mixed_into_one() -> None:
    live = (
        '<podcast:liveItem status="live" start="2021-09-26T07:30:00-0600"><title>LIVE</title>'
        "<link>https://live.example/</link><guid>live</guid>"
        '<enclosure url="https://x.example/live.mp3" type="audio/mpeg"/>'
        '<podcast:transcript url="https://x.example/live.vtt" type="text/vtt"/></podcast:liveItem>'
    )
    tag = '<podcast:transcript url="https://x.example/a.vtt" type="text/vtt"/>'
    parsed = parse_feed(rss(item("a", "A", extra=tag) + live + item("b", "B")), FEED_URL)
    assert [(e.guid, len(e.transcripts)) for e in parsed.episodes] == [("a", 1), ("b", 0)]
    assert parsed.feed.title == "Demo Show" and parsed.feed.link is None
