"""Episode statuses from the files the assets leave, and finding an episode by what a user remembers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cast_pipeline.feeds.catalog import write_feed_catalog
from cast_pipeline.feeds.model import Episode, Feed
from cast_pipeline.feeds.snapshot import save_episode
from cast_pipeline.keys import episode_key, feed_key
from cast_pipeline.paths import DataPaths
from cast_pipeline.segments import Segment
from cast_pipeline.transcripts.providers import ProviderResult, providers
from cast_pipeline.transcripts.status import EpisodeLookupError, episode_rows, find_episode
from cast_pipeline.transcripts.store import build_transcript

URL = "https://feeds.example.org/show.xml"
FK = feed_key(URL)


def _episode(n: int, title: str) -> Episode:
    return Episode(
        episode_key(FK, f"g{n}"), FK, URL, "Show", f"g{n}", title, published=datetime(2023, 3, n, tzinfo=UTC)
    )


def test_pending_needs_audio_transcribed_failed_and_removed(paths: DataPaths) -> None:
    new, asked, done, broken, gone = (
        _episode(n, t) for n, t in enumerate(["New", "Asked", "Done", "Broken", "Gone"], 1)
    )
    write_feed_catalog(paths, Feed(FK, URL, "Show"), [new, asked, done, broken])
    publisher = providers()[0]
    for ep in (asked, done, broken, gone):
        save_episode(paths, ep)
        publisher.save(paths, ep.key, ProviderResult("publisher", "none", reasons=["no tag"]))
    for ep in (done, gone):
        segments = [Segment(0, 1, "hello")]
        publisher.save(paths, ep.key, ProviderResult("publisher", "found", segments, b"x", source="podcast2.0:text"))
        build_transcript(paths, ep)

    rows = {r.title: r for r in episode_rows(paths, failures={broken.key: "audio failed in run 1234"})}
    assert {t: r.status for t, r in rows.items()} == {
        "New": "pending",
        "Asked": "needs_audio",
        "Done": "transcribed",
        "Broken": "failed",
        "Gone": "removed",
    }
    assert rows["Done"].source == "podcast2.0:text" and rows["Gone"].source == "podcast2.0:text"
    assert rows["Broken"].reason == "audio failed in run 1234" and rows["Gone"].published.startswith("2023-03-05")
    assert [r.title for r in episode_rows(paths)] == ["Gone", "Broken", "Done", "Asked", "New"]  # newest first
    assert episode_rows(paths, feed_urls=["https://other.example.org/x.xml"]) == []


def test_find_episode_by_key_prefix_or_title(paths: DataPaths) -> None:
    eps = [_episode(1, "Pasta"), _episode(2, "Pasta al forno")]
    write_feed_catalog(paths, Feed(FK, URL, "Show"), eps)
    assert find_episode(paths, eps[0].key) == eps[0].key
    assert find_episode(paths, eps[1].key[:-3]) == eps[1].key
    assert find_episode(paths, title="AL FORNO") == eps[1].key
    with pytest.raises(EpisodeLookupError, match="2 episodes have a title containing 'pasta'"):
        find_episode(paths, title="pasta")
    with pytest.raises(EpisodeLookupError, match="no episode has a key starting with 'zzz'"):
        find_episode(paths, "zzz")
