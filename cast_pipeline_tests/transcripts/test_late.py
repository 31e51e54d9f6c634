"""Late Pocket Casts transcripts: which episodes are looked up again, and what the look costs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cast_pipeline.feeds.registry import FeedEntry
from cast_pipeline.paths import DataPaths
from cast_pipeline.transcripts.awaiting import decide, save_await
from cast_pipeline.transcripts.late import candidates, late_pocketcasts, run_key
from cast_pipeline.transcripts.providers import ProviderContext, find_ready_made
from cast_pipeline_tests.transcripts.pocketcasts_standin import PCEpisode, PocketCastsStandIn
from cast_pipeline_tests.transcripts.test_pocketcasts import FEED_URL, FK, VTT, _feed, _settings, _show, standin

__all__ = ["standin"]  # the stand-in fixture, shared with test_pocketcasts

NOW = datetime.now(UTC)


def _iso(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat(timespec="seconds")


def test_only_young_asked_unfound_episodes_that_do_not_wait_are_looked_up_again(
    standin: PocketCastsStandIn, data_dir: Path
) -> None:
    settings = _settings(data_dir, standin, pocketcasts_cache_seconds=0)
    paths = DataPaths(data_dir)
    eps = _feed(
        paths,
        [
            ("Spoken", _iso(3)),
            ("Waiting", _iso(1)),
            ("Found", _iso(3)),
            ("Ancient", _iso(90)),
            ("Never asked", _iso(2)),
        ],
    )
    _show(standin, [PCEpisode("Found", _iso(3), VTT.format(topic="found"))])
    ctx = ProviderContext(settings, paths)
    for title in ("Spoken", "Waiting", "Found", "Ancient"):
        find_ready_made(eps[title], ctx)
    save_await(paths, eps["Waiting"].key, decide(eps["Waiting"], False, 7, NOW))
    assert [ep.title for ep in candidates(paths, eps.values(), NOW)] == ["Spoken"]


def test_one_show_list_request_per_feed_and_no_download(standin: PocketCastsStandIn, data_dir: Path) -> None:
    settings = _settings(data_dir, standin, pocketcasts_cache_seconds=3600)
    paths = DataPaths(data_dir)
    eps = _feed(paths, [("One", _iso(2)), ("Two", _iso(3)), ("Three", _iso(4))])
    show = _show(standin, [PCEpisode("One", _iso(2)), PCEpisode("Two", _iso(3)), PCEpisode("Three", _iso(4))])
    ctx = ProviderContext(settings, paths)
    for ep in eps.values():
        find_ready_made(ep, ctx)
    lists = len(standin.requests_to("/static/show_notes/"))
    assert late_pocketcasts(eps.values(), ctx) == ({}, {})  # nothing generated yet; the cached list answers
    assert len(standin.requests_to("/static/show_notes/")) == lists

    show.episodes[0].vtt = VTT.format(topic="one")
    show.episodes[2].vtt = VTT.format(topic="three")
    fresh = ProviderContext(replace(settings, pocketcasts_cache_seconds=0), paths)
    found, skipped = late_pocketcasts(eps.values(), fresh)
    assert set(found) == {eps["One"].key, eps["Three"].key} and skipped == {}
    assert found[eps["One"].key].endswith(standin.vtt_path(show, show.episodes[0]))
    assert len(standin.requests_to("/static/show_notes/")) == lists + 1  # one list for the three episodes
    assert not standin.requests_to("/transcripts/")  # the run downloads, not the look
    assert run_key(eps["One"].key, found[eps["One"].key]) != run_key(eps["One"].key, found[eps["One"].key] + "?v2")

    off = {FK: FeedEntry(FEED_URL, pocketcasts=False)}
    why = "switched off for this feed (pocketcasts: false in the feeds file)"
    assert late_pocketcasts(eps.values(), fresh, off) == ({}, {FK: why})
    found, skipped = late_pocketcasts(eps.values(), fresh, budget_seconds=-1)
    assert found == {} and "time budget" in skipped[FK]
