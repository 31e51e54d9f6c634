"""Small feed builders for the Dagster tests: real RSS served by the local HTTP server."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cast_pipeline_tests.httpserver import LocalHTTPServer

VTT = """WEBVTT

00:00:00.000 --> 00:00:03.000
<v Alice>Welcome to the show about {topic}.

00:00:03.000 --> 00:00:06.500
<v Bob>Today we talk about {topic} in depth.
"""


@dataclass
class Item:
    guid: str
    title: str
    transcript: bool = True
    pub: str = "Mon, 06 Mar 2023 10:00:00 GMT"


def rss(title: str, items: Sequence[Item], base: str, lang: str = "en") -> str:
    parts = []
    for it in items:
        tr = f'<podcast:transcript url="{base}/t/{it.guid}.vtt" type="text/vtt"/>' if it.transcript else ""
        parts.append(
            f'<item><title>{it.title}</title><guid isPermaLink="false">{it.guid}</guid>'
            f"<pubDate>{it.pub}</pubDate>"
            f'<enclosure url="{base}/a/{it.guid}.mp3" type="audio/mpeg" length="1000"/>{tr}</item>'
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:podcast="https://podcastindex.org/namespace/1.0"><channel>'
        f"<title>{title}</title><link>{base}</link><language>{lang}</language><description>d</description>"
        + "".join(parts)
        + "</channel></rss>"
    )


def serve_feed(server: LocalHTTPServer, path: str, title: str, items: Sequence[Item], etag: str = '"v1"') -> str:
    """Serve a feed and the VTT transcripts of its items; returns the feed URL."""
    for it in items:
        if it.transcript:
            server.add(f"/t/{it.guid}.vtt", VTT.format(topic=it.title), "text/vtt")
    return server.add(path, rss(title, items, server.base_url), "application/rss+xml", etag=etag)
