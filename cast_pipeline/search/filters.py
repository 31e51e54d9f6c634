"""Which episodes a search may return: feed, publication window, episodes removed from their feed.

Why one type for two engines: the segments' searches take the filter as LanceDB's SQL pre-filter
(:attr:`SearchFilter.sql`), the in-memory title/description search (:mod:`.episode_text`) as a test on an
episode's fields (:meth:`SearchFilter.accepts`); a test checks both keep the same episodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any


def moment(value: date | datetime | str | None, name: str) -> datetime | None:
    """``value`` as an aware UTC datetime (a date is its midnight); ValueError naming ``name`` if unreadable."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{name} must be a date such as 2024-01-31, got {value!r}") from None
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def end_of(until: date | datetime | str | None) -> datetime | None:
    """The first moment after ``until`` (a date includes its whole day)."""
    if isinstance(until, str) and len(until.strip()) == 10:
        try:
            until = date.fromisoformat(until.strip())
        except ValueError:
            raise ValueError(f"until must be a date such as 2024-01-31, got {until!r}") from None
    if type(until) is date:
        until = datetime(until.year, until.month, until.day, tzinfo=UTC) + timedelta(days=1)
    return moment(until, "until")


def _sql_time(moment: datetime) -> str:
    return f"TIMESTAMP '{moment.strftime('%Y-%m-%dT%H:%M:%S')}Z'"


@dataclass(frozen=True)
class SearchFilter:
    """Which episodes a search may return, as LanceDB's SQL pre-filter (:attr:`sql`) and as the same test
    on an episode's fields in memory (:meth:`accepts`, for :mod:`.episode_text`)."""

    hidden: frozenset[str] = frozenset()  # episode keys left out (removed from their feed)
    feeds: frozenset[str] | None = None  # feed keys, None: every feed
    since: datetime | None = None  # published at or after
    before: datetime | None = None  # published before

    @property
    def sql(self) -> str | None:
        parts = []
        if self.hidden:
            parts.append("episode_key NOT IN (" + ", ".join(map(_sql_str, sorted(self.hidden))) + ")")
        if self.feeds is not None:
            parts.append("feed_key IN (" + ", ".join(map(_sql_str, sorted(self.feeds))) + ")")
        if self.since is not None:
            parts.append(f"published >= {_sql_time(self.since)}")
        if self.before is not None:
            parts.append(f"published < {_sql_time(self.before)}")
        return " AND ".join(parts) or None

    def accepts(self, episode: Mapping[str, Any]) -> bool:
        if episode["episode_key"] in self.hidden or (self.feeds is not None and episode["feed_key"] not in self.feeds):
            return False
        if self.since is None and self.before is None:
            return True
        published = episode.get("published")  # SQL: a comparison with NULL is not true
        if published is None:
            return False
        published = published.replace(tzinfo=UTC) if published.tzinfo is None else published
        return (self.since is None or published >= self.since) and (self.before is None or published < self.before)


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
