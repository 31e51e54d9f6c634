"""Check a feed before it is registered: fetch and parse it once, store nothing.

Why nothing is stored: a feed that was never refreshed is due on the sensor's very next tick
(:func:`cast_pipeline.feeds.due.due_feeds`); writing its catalog here would make it look freshly
refreshed and hide its episodes until the next regular refresh.

Every failure is a :class:`FeedError` whose reason says what is wrong in words a user can act on:
a typo in the scheme, a missing file, a host that does not answer, an HTTP error, an HTML page or
XML from which no feed can be read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from cast_pipeline.feeds.parse import FeedError, parse_feed
from cast_pipeline.feeds.refresh import fetch_feed
from cast_pipeline.http import FetchError
from cast_pipeline.settings import Settings


@dataclass(frozen=True)
class FeedCheck:
    url: str
    final_url: str
    title: str
    episodes: int
    with_transcripts: int  # episodes with at least one <podcast:transcript> link
    problems: list[str] = field(default_factory=list)
    podcast_guid: str | None = None  # <podcast:guid>: the same show under another URL declares the same one


def _fetch_reason(url: str, exc: FetchError) -> str:
    if exc.reason.startswith("connection failed"):
        host = urlsplit(url).hostname or url
        return f"cannot reach {host} ({exc.reason}); check the address for typos, or the network"
    return exc.reason


def check_feed(url: str, settings: Settings, client: httpx.Client | None = None) -> FeedCheck:
    """Fetch and parse ``url``; raises FeedError naming the URL and the reason."""
    try:
        result = fetch_feed(url, settings, client)
    except FetchError as exc:
        raise FeedError(url, _fetch_reason(url, exc)) from None
    parsed = parse_feed(result.body, url, base_url=result.final_url)
    with_transcripts = sum(1 for ep in parsed.episodes if ep.transcripts)
    return FeedCheck(
        url,
        result.final_url,
        parsed.feed.title,
        len(parsed.episodes),
        with_transcripts,
        parsed.problems,
        parsed.feed.podcast_guid,
    )
