"""The awaiting window: who waits, how the looks back off, and when waiting ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from cast_pipeline.feeds.model import Episode
from cast_pipeline.feeds.registry import FeedsFileError, read_feed_entries
from cast_pipeline.paths import DataPaths
from cast_pipeline.transcripts.awaiting import awaiting_reason, decide, due_keys, is_due, save_await

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _episode(age: timedelta | None) -> Episode:
    published = NOW - age if age is not None else None
    return Episode(
        "show-1a2b3c4d--ep-0123456789", "show-1a2b3c4d", "https://x.org/f.xml", "Show", "g", "Ep", published=published
    )


def test_a_young_episode_waits_and_the_looks_back_off_until_the_window_ends() -> None:
    ep = _episode(timedelta(hours=2))
    state, looks = None, []
    now = NOW
    while state is None or state.awaiting:
        state = decide(ep, False, 7, now, state)
        looks.append(now)
        if state.awaiting:
            now = datetime.fromisoformat(state.next_check)
    gaps = [round((b - a).total_seconds() / 3600) for a, b in pairwise(looks)]
    assert gaps == [6, 12, 24, 48, 76]  # doubling, the last one cut short by the window's end
    assert looks[-1] == ep.published + timedelta(days=7)
    assert state.state == "ended" and f"within 7 days ({len(looks)} looks): going to audio" in state.reason
    assert len(state.history) == len(looks)


def test_who_does_not_wait() -> None:
    old = decide(_episode(timedelta(days=30)), False, 7, NOW)
    assert old.state == "ended" and "published 30.0 days ago, before the 7-day window: straight to audio" in old.reason
    assert decide(_episode(timedelta(hours=1)), False, 0, NOW).state == "not_waiting"
    assert decide(_episode(None), False, 7, NOW).reason == "no publication date: straight to audio"
    found = decide(_episode(timedelta(hours=1)), True, 7, NOW, decide(_episode(timedelta(hours=1)), False, 7, NOW))
    assert found.state == "found" and found.reason == "a ready-made transcript was found after 2 looks"


def test_the_state_file_drives_audio_and_due_checks(paths: DataPaths) -> None:
    ep = _episode(timedelta(hours=3))
    waiting = decide(ep, False, 7, NOW)
    save_await(paths, ep.key, waiting)
    assert "waiting until 2026-12-08 09:00 UTC" in (awaiting_reason(paths, ep.key) or "")
    assert not is_due(waiting, NOW) and is_due(waiting, NOW + timedelta(hours=6))
    assert due_keys(paths, [ep.key], NOW + timedelta(hours=7)) == [ep.key]
    assert due_keys(paths, [ep.key], NOW) == []


def test_per_feed_window_in_the_feeds_file(tmp_path: Path) -> None:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - url: https://a.org/f.xml\n    await_transcript_days: 0\n  - https://b.org/f.xml\n")
    assert [e.await_transcript_days for e in read_feed_entries(feeds)] == [0.0, None]
    feeds.write_text("feeds:\n  - url: https://a.org/f.xml\n    await_transcript_days: soon\n")
    with pytest.raises(FeedsFileError, match="line 3: 'await_transcript_days' must be a number of days"):
        read_feed_entries(feeds)
