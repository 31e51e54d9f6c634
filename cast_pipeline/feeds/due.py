"""Which feeds the sensor refreshes on a tick: new ones at once, the others every CAST_FEED_REFRESH_SECONDS.

Why per feed and not per tick: the sensor ticks every minute so that a feed added with
`cast-pipeline feeds add`, in feeds.yaml or with the UI's "add partition" is fetched within a
minute; refreshing hundreds of known feeds every minute would be rude to their hosts. So each feed
is due when it was never fetched, or when its last attempt (success or error, from ``fetch.json``)
is older than the refresh interval. Never-fetched feeds come first, then the longest-waiting, so
feeds a tick's time budget did not reach are the first ones of the next tick.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from cast_pipeline.feeds.refresh import read_fetch_state
from cast_pipeline.keys import InvalidKeyError, feed_key
from cast_pipeline.paths import DataPaths


def _time(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def last_attempt(paths: DataPaths, url: str) -> datetime | None:
    """When the feed was last fetched or failed, None when never (or its URL makes no key)."""
    try:
        state = read_fetch_state(paths, feed_key(url))
    except InvalidKeyError:
        return None
    times = [t for t in (_time(state.get("checked_at")), _time(state.get("last_error_at"))) if t is not None]
    return max(times) if times else None


def due_feeds(urls: Sequence[str], paths: DataPaths, refresh_seconds: float, now: datetime | None = None) -> list[str]:
    """The feeds to refresh now, never-fetched first (in the given order), then the longest-waiting."""
    now = now or datetime.now(UTC)
    never: list[str] = []
    waiting: list[tuple[datetime, int, str]] = []
    for index, url in enumerate(urls):
        last = last_attempt(paths, url)
        if last is None:
            never.append(url)
        elif (now - last).total_seconds() >= refresh_seconds:
            waiting.append((last, index, url))
    return never + [url for _, _, url in sorted(waiting)]
