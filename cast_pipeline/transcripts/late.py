"""Late Pocket Casts transcripts: an episode already sent to speech is looked up again for a while.

Why: Pocket Casts generates its transcripts some time after an episode is out, often after the
awaiting window (or with ``CAST_AWAIT_TRANSCRIPT_DAYS=0``, after speech has already run). A publisher
transcript that comes late shows in the refreshed feed (cast_pipeline.feeds.late); a Pocket Casts one
shows only in the show's episode list. So for :data:`LATE_LOOK_DAYS` after publication, episodes
without a ready-made transcript (awaiting audio or transcribed by speech) are matched against that
list, which costs one request per feed per CAST_POCKETCASTS_CACHE_SECONDS, never one per episode.
An episode found there is run again: its ``publisher_transcript`` asks the providers, finds the
Pocket Casts transcript, and ``transcript`` switches to it (publisher > Pocket Casts > speech); the
speech result stays on disk as an alternative.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from cast_pipeline.feeds.model import Episode
from cast_pipeline.feeds.registry import FeedEntry
from cast_pipeline.http import make_client
from cast_pipeline.paths import DataPaths
from cast_pipeline.settings import Settings
from cast_pipeline.transcripts.awaiting import load_await
from cast_pipeline.transcripts.providers import ProviderContext, providers, ready_made
from cast_pipeline.transcripts.providers.pocketcasts import EPISODES_FILE, switched_off
from cast_pipeline.transcripts.providers.pocketcasts import PROVIDER as POCKETCASTS

LATE_LOOK_DAYS = 30.0  # after publication; an older episode has had its chance


def young(published: datetime | None, now: datetime | None = None) -> bool:
    """Published within :data:`LATE_LOOK_DAYS` (an episode without a date is not looked at again)."""
    return published is not None and (now or datetime.now(UTC)) - published <= timedelta(days=LATE_LOOK_DAYS)


def candidates(paths: DataPaths, episodes: Iterable[Episode], now: datetime | None = None) -> list[Episode]:
    """Young episodes whose providers were asked, found nothing, and which are not awaiting any more."""
    out = []
    for ep in episodes:
        if not young(ep.published, now):
            continue
        if not any(paths.episode_file(ep.key, p.record_file).exists() for p in providers()):
            continue  # never asked: its first run asks every provider anyway
        state = load_await(paths, ep.key)
        if (state is not None and state.awaiting) or ready_made(paths, ep.key) is not None:
            continue
        out.append(ep)
    return out


def _list_age(paths: DataPaths, feed_key: str) -> float:
    try:
        return paths.feed_file(feed_key, EPISODES_FILE).stat().st_mtime
    except OSError:
        return 0.0  # never fetched: first


def late_pocketcasts(
    episodes: Iterable[Episode],
    ctx: ProviderContext,
    options: Mapping[str, FeedEntry] | None = None,
    budget_seconds: float | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """({episode key: transcript URL} now listed by Pocket Casts, {feed key: why it was not looked at}).

    Feeds whose Pocket Casts list is oldest go first; with ``budget_seconds`` the look stops when the
    time is up (Pocket Casts requests are spaced by CAST_POCKETCASTS_MIN_INTERVAL) and the feeds not
    reached come first next time.
    """
    by_feed: dict[str, list[Episode]] = defaultdict(list)
    for ep in episodes:
        by_feed[ep.feed_key].append(ep)
    found: dict[str, str] = {}
    skipped: dict[str, str] = {}
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    for fk in sorted(by_feed, key=lambda fk: _list_age(ctx.paths, fk)):
        if deadline is not None and time.monotonic() > deadline:
            skipped[fk] = "not reached within this look's time budget; first next time"
            continue
        eps = by_feed[fk]
        feed_ctx = ProviderContext(ctx.settings, ctx.paths, ctx.client, (options or {}).get(fk))
        listed, why = POCKETCASTS.listed(eps, feed_ctx)
        found.update(listed)
        if why:
            skipped[fk] = why
    return found, skipped


def run_key(episode_key: str, url: str) -> str:
    """A run key per episode and transcript URL: the same late transcript is never run twice."""
    return f"late-pocketcasts:{episode_key}@{hashlib.sha1(url.encode()).hexdigest()[:10]}"


def late_keys(
    paths: DataPaths,
    settings: Settings,
    episodes: Iterable[Episode],
    options: Mapping[str, FeedEntry] | None = None,
) -> list[str]:
    """Keys of the episodes to run again for a late Pocket Casts transcript (`cast-pipeline run`).

    With CAST_POCKETCASTS off, ``episodes`` (possibly a lazy read of every catalog) is not read at all.
    """
    if switched_off(settings):
        return []
    with make_client(settings) as client:
        found, _ = late_pocketcasts(candidates(paths, episodes), ProviderContext(settings, paths, client), options)
    return list(found)
