"""Apple Podcasts URLs resolved through a local stand-in for the iTunes lookup API."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from cast_pipeline.feeds.apple import AppleLookupError, apple_podcast_id, resolve_feed_url
from cast_pipeline_tests.httpserver import LocalHTTPServer

SHOW_URL = "https://podcasts.apple.com/us/podcast/the-demo-show/id123456789"


def lookup_answer(*results: dict[str, Any]) -> str:
    """The iTunes lookup API's response shape (abridged from real answers)."""
    return json.dumps({"resultCount": len(results), "results": list(results)})


def podcast(collection_id: int, feed_url: str | None, name: str = "The Demo Show") -> dict[str, Any]:
    result: dict[str, Any] = {
        "wrapperType": "track",
        "kind": "podcast",
        "collectionId": collection_id,
        "trackId": collection_id,
        "artistName": "Demo People",
        "collectionName": name,
        "trackName": name,
        "collectionViewUrl": f"https://podcasts.apple.com/us/podcast/x/id{collection_id}?uo=4",
        "releaseDate": "2025-01-01T08:00:00Z",
        "trackCount": 42,
        "country": "USA",
        "primaryGenreName": "Technology",
        "genres": ["Technology", "Podcasts"],
    }
    if feed_url is not None:
        result["feedUrl"] = feed_url
    return result


def serve(server: LocalHTTPServer, show_id: int, body: str) -> str:
    server.add(f"/lookup?id={show_id}&entity=podcast", body, "text/javascript; charset=utf-8")
    return server.url("/lookup")


@pytest.mark.parametrize(
    ("url", "show_id"),
    [
        (SHOW_URL, "123456789"),
        (SHOW_URL + "?i=1000654321987", "123456789"),
        ("https://podcasts.apple.com/gb/podcast/id42", "42"),
        ("podcasts.apple.com/de/podcast/sendung/id77?l=en", "77"),
        ("https://itunes.apple.com/us/podcast/old-style/id555?mt=2", "555"),
        ("https://example.com/podcast/id123/feed.xml", None),
        ("https://podcasts.apple.com/us/browse", None),
        ("https://feeds.example.org/show.rss", None),
    ],
)
def test_apple_podcast_ids(url: str, show_id: str | None) -> None:
    assert apple_podcast_id(url) == show_id


def test_an_apple_url_resolves_to_the_feed_url(http_server: LocalHTTPServer) -> None:
    lookup = serve(http_server, 123456789, lookup_answer(podcast(123456789, "https://feeds.example.org/demo.rss")))
    with httpx.Client(headers={"User-Agent": "apple-test/1"}) as client:
        assert resolve_feed_url(SHOW_URL + "?i=1000654321987", lookup, client) == "https://feeds.example.org/demo.rss"
    (request,) = http_server.requests_to("/lookup")
    assert request.path == "/lookup?id=123456789&entity=podcast"
    assert request.headers["user-agent"] == "apple-test/1"


def test_other_urls_come_back_unchanged_without_a_request(http_server: LocalHTTPServer) -> None:
    assert resolve_feed_url("https://feeds.example.org/show.rss", http_server.url("/lookup")) == (
        "https://feeds.example.org/show.rss"
    )
    assert http_server.requests == []


def test_an_unknown_id_is_reported(http_server: LocalHTTPServer) -> None:
    lookup = serve(http_server, 123456789, lookup_answer())
    with pytest.raises(AppleLookupError, match="no show with id 123456789"):
        resolve_feed_url(SHOW_URL, lookup)


def test_a_show_without_feed_url_says_what_to_do(http_server: LocalHTTPServer) -> None:
    lookup = serve(http_server, 123456789, lookup_answer(podcast(123456789, None, "Apple Exclusive")))
    with pytest.raises(AppleLookupError, match=r"'Apple Exclusive' \(id 123456789\) without a public RSS feed"):
        resolve_feed_url(SHOW_URL, lookup)


def test_lookup_failures_name_the_id_and_url(http_server: LocalHTTPServer) -> None:
    http_server.add("/down", "unavailable", status=503)
    with pytest.raises(AppleLookupError, match=r"id 123456789 .*HTTP 503"):
        resolve_feed_url(SHOW_URL, http_server.url("/down"))
    lookup = serve(http_server, 123456789, "<html>rate limited</html>")
    with pytest.raises(AppleLookupError, match="invalid JSON"):
        resolve_feed_url(SHOW_URL, lookup)
