"""What we know about a feed and its episodes, independent of how it was fetched or stored.

These records are what the feed parser produces, what the episode catalog (Parquet) stores one row
of, and what the Dagster assets and notebooks read back. Plain dataclasses: no Dagster here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class TranscriptLink:
    """One ``<podcast:transcript>`` tag of an item."""

    url: str
    type: str  # MIME type as given, e.g. text/vtt, application/x-subrip, application/json, text/html
    language: str | None = None
    rel: str | None = None  # "captions" when the file is meant as closed captions


@dataclass(frozen=True)
class Episode:
    key: str  # the episodes partition key (cast_pipeline.keys.episode_key)
    feed_key: str
    feed_url: str
    feed_title: str
    guid: str | None
    title: str
    description: str = ""
    published: datetime | None = None  # timezone-aware UTC when the feed gives a date
    link: str | None = None
    enclosure_url: str | None = None
    enclosure_type: str | None = None
    enclosure_length: int | None = None
    duration_seconds: float | None = None  # from itunes:duration when present
    language: str | None = None  # item language, else the feed's
    image: str | None = None
    transcripts: tuple[TranscriptLink, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["published"] = self.published.isoformat() if self.published else None
        out["transcripts"] = [asdict(t) for t in self.transcripts]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Episode:
        data = dict(data)
        pub = data.get("published")
        if isinstance(pub, str):
            data["published"] = datetime.fromisoformat(pub)
        data["transcripts"] = tuple(TranscriptLink(**t) for t in data.get("transcripts") or ())
        return cls(**data)


@dataclass(frozen=True)
class Feed:
    key: str  # the feed's key (cast_pipeline.keys.feed_key of its registered URL)
    url: str  # the URL as registered (the feeds partition key)
    title: str
    description: str = ""
    link: str | None = None
    language: str | None = None
    podcast_guid: str | None = None  # <podcast:guid>, when the feed declares one
    image: str | None = None
    author: str | None = None
    new_feed_url: str | None = None  # <itunes:new-feed-url>: the publisher says the feed has moved


def oldest_first(dated: Iterable[tuple[str, datetime | None]]) -> list[str]:
    """Episode keys by publication date, undated ones last, ties in feed order.

    Why: feeds list newest first, but partitions are added (and batched into ranged runs) in
    publication order, so consecutive keys of a batch stay within one feed and one era.
    """
    return [key for key, _ in sorted(dated, key=lambda kd: kd[1].timestamp() if kd[1] else math.inf)]
