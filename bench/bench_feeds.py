"""Feed parsing throughput: parse_feed against bare feedparser and bare ElementTree on the same bytes.

Run by hand (not a test):  .venv/bin/python bench/bench_feeds.py [--items 5000] [--repeat 3]

Generates one realistic feed (HTML descriptions, enclosures, iTunes tags, two <podcast:transcript>
tags per item, a live item), then reports the best of N runs for
  1. xml.etree.ElementTree.fromstring (lower bound: C parser, no interpretation),
  2. feedparser.parse (baseline: what parse_feed builds on),
  3. parse_feed (feedparser + our namespace pass + keys + Episode records),
and the parse_feed / feedparser ratio, i.e. what reading every transcript tag and building keyed
records costs on top of feedparser. Also checks that every item kept both transcript links.
"""

from __future__ import annotations

import argparse
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import feedparser

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cast_pipeline.feeds.parse import parse_feed

FEED_URL = "https://feeds.example.org/bench/podcast.rss"


def make_feed(items: int) -> bytes:
    entries = []
    for i in range(items, 0, -1):
        entries.append(
            f"""<item>
      <title>Episode {i}: Conversations about topic {i % 41} &amp; more</title>
      <description>&lt;p&gt;In episode {i} we talk about {i % 41} things, with links
        &lt;a href="https://example.org/{i}"&gt;here&lt;/a&gt; and a long show-notes paragraph that
        goes on for a while, the way real show notes do, listing sponsors and guests.&lt;/p&gt;</description>
      <link>https://example.org/episodes/{i}</link>
      <guid isPermaLink="false">bench-show-episode-{i:06d}</guid>
      <pubDate>Mon, {1 + i % 28:02d} Mar 2021 10:{i % 60:02d}:00 +0100</pubDate>
      <itunes:duration>{i % 3}:{i % 60:02d}:{(i * 7) % 60:02d}</itunes:duration>
      <itunes:episode>{i}</itunes:episode>
      <itunes:image href="https://cdn.example.org/art/{i}.jpg"/>
      <enclosure url="https://cdn.example.org/audio/{i}.mp3" length="{30_000_000 + i}" type="audio/mpeg"/>
      <podcast:transcript url="https://cdn.example.org/t/{i}.vtt" type="text/vtt" language="en" rel="captions"/>
      <podcast:transcript url="https://cdn.example.org/t/{i}.json" type="application/json"/>
      <podcast:chapters url="https://cdn.example.org/c/{i}.json" type="application/json+chapters"/>
    </item>"""
        )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"
     xmlns:podcast="https://podcastindex.org/namespace/1.0">
  <channel>
    <title>Benchmark Show</title><description>A generated show.</description>
    <link>https://example.org/</link><language>en-us</language>
    <itunes:image href="https://cdn.example.org/show.jpg"/><itunes:author>Bench</itunes:author>
    <podcast:guid>4f9a5c2e-0000-4000-8000-000000000000</podcast:guid>
    <podcast:liveItem status="pending" start="2030-01-01T00:00:00Z" end="2030-01-01T01:00:00Z">
      <title>Live</title><guid>live-1</guid><enclosure url="https://cdn.example.org/live" type="audio/mpeg"/>
    </podcast:liveItem>
    {"".join(entries)}
  </channel>
</rss>""".encode()


def best_of(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    body = make_feed(args.items)
    parsed = parse_feed(body, FEED_URL)
    assert len(parsed.episodes) == args.items, len(parsed.episodes)
    assert all(len(e.transcripts) == 2 for e in parsed.episodes), "lost transcript links"
    assert parsed.problems == [], parsed.problems

    etree_s = best_of(args.repeat, lambda: ET.fromstring(body))
    feedparser_s = best_of(args.repeat, lambda: feedparser.parse(body))
    ours_s = best_of(args.repeat, lambda: parse_feed(body, FEED_URL))

    print(f"feed: {args.items} items, {len(body) / 1e6:.1f} MB, best of {args.repeat}")
    for name, seconds in (("ElementTree.fromstring", etree_s), ("feedparser.parse", feedparser_s)):
        print(f"  {name:<24} {seconds:7.3f} s  {args.items / seconds:10,.0f} items/s")
    print(f"  {'parse_feed':<24} {ours_s:7.3f} s  {args.items / ours_s:10,.0f} items/s")
    print(f"  parse_feed / feedparser = {ours_s / feedparser_s:.2f}x the time")


if __name__ == "__main__":
    main()
