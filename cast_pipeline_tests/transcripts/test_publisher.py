"""Publisher transcripts fetched from a real local server: best link first, every failure explained."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest

from cast_pipeline.feeds.model import Episode, TranscriptLink
from cast_pipeline.feeds.parse import parse_feed
from cast_pipeline.keys import episode_key, feed_key
from cast_pipeline.paths import DataPaths
from cast_pipeline.settings import Settings, load_settings
from cast_pipeline.transcripts.publisher import (
    PublisherTranscript,
    fetch_publisher_transcript,
    load_publisher_transcript,
    save_publisher_transcript,
)
from cast_pipeline.transcripts.store import choose_source
from cast_pipeline_tests.httpserver import LocalHTTPServer, Route

VTT_UTF8 = "WEBVTT\n\n00:00:00.000 --> 00:00:02.500\n<v Zoë>Un café, s'il vous plaît.\n"


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return load_settings(user_agent="publisher-test/1.0", http_timeout="5")


@pytest.fixture
def examples(shared_data: Path) -> Path:
    return shared_data / "transcripts" / "podcast-namespace"


def episode(feed_url: str, *links: TranscriptLink, language: str | None = "en") -> Episode:
    fk = feed_key(feed_url)
    return Episode(
        key=episode_key(fk, "ep-1"),
        feed_key=fk,
        feed_url=feed_url,
        feed_title="Show",
        guid="ep-1",
        title="Episode 1",
        language=language,
        transcripts=links,
    )


def remote_episode(server: LocalHTTPServer, *links: TranscriptLink) -> Episode:
    return episode(server.url("/feed.xml"), *links)


@pytest.mark.parametrize(
    ("name", "mime", "source", "first_words"),
    [
        ("example.vtt", "text/vtt", "podcast2.0:vtt", "In today's episode"),
        ("example.srt", "application/x-subrip", "podcast2.0:srt", "When you first get"),
        ("example.json", "application/json", "podcast2.0:json", "I"),
        ("example.html", "text/html", "podcast2.0:html", "When you first get started"),
    ],
)
def test_each_namespace_example_format_is_found(
    http_server: LocalHTTPServer,
    examples: Path,
    settings: Settings,
    name: str,
    mime: str,
    source: str,
    first_words: str,
) -> None:
    url = http_server.add_file(f"/t/{name}", examples / name, mime)
    result = fetch_publisher_transcript(remote_episode(http_server, TranscriptLink(url, mime)), settings)
    assert result.status == "found" and result.source == source and result.reasons == []
    assert result.segments[0].text.startswith(first_words)
    assert result.raw == (examples / name).read_bytes() and result.link == TranscriptLink(url, mime)
    assert http_server.requests_to(f"/t/{name}")[0].headers["user-agent"] == "publisher-test/1.0"


def test_the_example_feed_falls_through_a_missing_text_file_to_the_vtt(
    http_server: LocalHTTPServer, shared_data: Path, examples: Path, settings: Settings
) -> None:
    feed_xml = (shared_data / "feeds" / "podcast-namespace-example.xml").read_text(encoding="utf-8")
    feed_url = http_server.url("/feed.xml")
    ep3 = parse_feed(feed_xml.replace("https://example.com", http_server.base_url).encode(), feed_url).episodes[0]
    vtt = http_server.add_file("/episode1/transcript.vtt", examples / "example.vtt", "text/vtt")
    # the untagged text/plain link ranks first for an en-US show (the VTT is Spanish) but is missing
    result = fetch_publisher_transcript(ep3, settings)
    assert result.status == "found" and result.link is not None and result.link.url == vtt
    missing = http_server.url("/ep3/transcript.txt")
    assert result.reasons == [f"episode {ep3.key}: {missing}: HTTP 404 Not Found from {missing}"]


def test_no_links_means_none(http_server: LocalHTTPServer, settings: Settings) -> None:
    result = fetch_publisher_transcript(remote_episode(http_server), settings)
    assert result == PublisherTranscript("none")


def test_the_best_ranked_link_is_the_only_one_downloaded(
    http_server: LocalHTTPServer, examples: Path, settings: Settings
) -> None:
    srt = http_server.add_file("/t.srt", examples / "example.srt", "application/x-subrip")
    vtt = http_server.add_file("/t.vtt", examples / "example.vtt", "text/vtt")
    ep = remote_episode(http_server, TranscriptLink(srt, "application/x-subrip"), TranscriptLink(vtt, "text/vtt"))
    assert fetch_publisher_transcript(ep, settings).source == "podcast2.0:vtt"
    assert http_server.requests_to("/t.srt") == []


def test_every_failure_is_explained_and_the_result_is_unusable(
    http_server: LocalHTTPServer, settings: Settings
) -> None:
    huge = 50 * 1024 * 1024
    http_server.routes["/huge.vtt"] = Route(handler=lambda _: (200, {"Content-Type": "text/vtt"}, b"x" * huge))
    links = [
        TranscriptLink(http_server.url("/gone.vtt"), "text/vtt"),
        TranscriptLink(http_server.url("/huge.vtt"), "text/vtt"),
        TranscriptLink(http_server.add("/audio.vtt", b"ID3\x04\x00" + bytes(range(256)) * 64, "text/vtt"), "text/vtt"),
        TranscriptLink(
            http_server.add("/bad.json", b'{"segments": [{"startTime": "soon"', "application/json"), "application/json"
        ),
        TranscriptLink(http_server.add("/empty.srt", b"\n\n  \n", "application/x-subrip"), "application/x-subrip"),
    ]
    ep = remote_episode(http_server, *links)
    result = fetch_publisher_transcript(ep, settings)
    assert result.status == "unusable" and result.segments == [] and result.link is None
    assert len(result.reasons) == 5
    assert all(r.startswith(f"episode {ep.key}: http://") for r in result.reasons)
    by_url = {r.split(": ")[1]: r for r in result.reasons}
    assert "HTTP 404" in by_url[links[0].url]
    assert "too large" in by_url[links[1].url] and "CAST_MAX_TRANSCRIPT_BYTES" in by_url[links[1].url]
    assert f"({huge} bytes," in by_url[links[1].url]  # refused from its Content-Length, before the body is read
    assert "binary" in by_url[links[2].url]
    assert by_url[links[3].url] and by_url[links[4].url]


def test_utf16_with_bom_and_a_charset_header_are_decoded(http_server: LocalHTTPServer, settings: Settings) -> None:
    utf16 = http_server.add("/u16.vtt", codecs.BOM_UTF16_LE + VTT_UTF8.encode("utf-16-le"), "text/vtt")
    latin1 = http_server.add("/l1.vtt", VTT_UTF8.encode("iso-8859-1"), "text/vtt; charset=ISO-8859-1")
    for url in (utf16, latin1):
        result = fetch_publisher_transcript(remote_episode(http_server, TranscriptLink(url, "text/vtt")), settings)
        assert result.status == "found", result.reasons
        assert result.segments[0].text == "Un café, s'il vous plaît." and result.segments[0].speaker == "Zoë"


def test_vtt_served_as_text_plain_is_still_read_as_vtt(http_server: LocalHTTPServer, settings: Settings) -> None:
    url = http_server.add("/captions.vtt", VTT_UTF8, "text/plain")
    result = fetch_publisher_transcript(remote_episode(http_server, TranscriptLink(url, "text/plain")), settings)
    assert result.source == "podcast2.0:vtt" and result.segments[0].end == 2.5


def test_file_links_are_followed_only_from_local_feeds(tmp_path: Path, settings: Settings) -> None:
    local = tmp_path / "t.vtt"
    local.write_text(VTT_UTF8, encoding="utf-8")
    link = TranscriptLink(local.as_uri(), "text/vtt")
    assert fetch_publisher_transcript(episode((tmp_path / "feed.xml").as_uri(), link), settings).status == "found"
    refused = fetch_publisher_transcript(episode("https://podcasts.example.org/feed.xml", link), settings)
    assert refused.status == "unusable" and "file:// link in a remote feed is refused" in refused.reasons[0]


def test_save_and_load_round_trip_and_the_record_feeds_the_transcript_store(
    http_server: LocalHTTPServer, examples: Path, paths: DataPaths, settings: Settings
) -> None:
    json_url = http_server.add_file("/t.json", examples / "example.json", "application/json")
    ep = remote_episode(http_server, TranscriptLink(json_url, "application/json"))
    result = fetch_publisher_transcript(ep, settings)
    save_publisher_transcript(paths, ep.key, result)
    assert load_publisher_transcript(paths, ep.key) == result
    assert paths.episode_file(ep.key, "publisher.raw.json").read_bytes() == result.raw
    record = json.loads(paths.episode_file(ep.key, "publisher.json").read_text())
    assert record["status"] == "found" and record["source"] == "podcast2.0:json" and record["link"]["url"] == json_url
    chosen = choose_source(paths, ep.key)
    assert chosen is not None and chosen[0] == result.segments


def test_a_later_unusable_result_replaces_the_record_and_drops_the_old_raw_file(
    http_server: LocalHTTPServer, paths: DataPaths, settings: Settings
) -> None:
    url = http_server.add("/t.vtt", VTT_UTF8, "text/vtt")
    ep = remote_episode(http_server, TranscriptLink(url, "text/vtt"))
    save_publisher_transcript(paths, ep.key, fetch_publisher_transcript(ep, settings))
    http_server.add("/t.vtt", "gone", status=410)
    later = fetch_publisher_transcript(ep, settings)
    save_publisher_transcript(paths, ep.key, later)
    assert load_publisher_transcript(paths, ep.key) == later and later.status == "unusable"
    assert sorted(p.name for p in paths.episode_dir(ep.key).iterdir()) == ["publisher.json"]
    assert choose_source(paths, ep.key) is None


def test_loading_before_saving_says_what_to_run(paths: DataPaths) -> None:
    key = episode_key(feed_key("https://example.org/feed.xml"), "x")
    with pytest.raises(FileNotFoundError, match="materialise its `publisher_transcript`"):
        load_publisher_transcript(paths, key)
