"""The one interface every source of ready-made transcripts implements (publisher, Pocket Casts, ...).

Why an interface: whether an episode costs an audio download and a speech model depends on whether
*any* ready-made transcript exists, and the sources differ only in how they look. Each provider
answers one question per episode with a :class:`ProviderResult`:

- ``found``: segments (and the raw bytes as downloaded), ``source`` says where they came from;
- ``none``: this provider has nothing for the episode (no tag, show not in the directory...);
- ``unusable``: it offers something that could not be used (404, binary, unparsable file);
- ``error``: the provider itself failed (rate limited, HTML instead of JSON...); worth asking again;
- ``disabled``: switched off globally or for this feed.

Every status but ``found`` carries ``reasons`` that name the episode and say what went wrong; no
provider raises for a bad answer. Each provider keeps its own record file ``<name>.json`` (plus
``<name>.raw.<ext>``) in the episode folder, so switching source never deletes a transcript.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from cast_pipeline.feeds.model import Episode
from cast_pipeline.feeds.registry import FeedEntry
from cast_pipeline.paths import DataPaths, write_bytes_atomic, write_text_atomic
from cast_pipeline.segments import Segment, segments_from_json, segments_to_json
from cast_pipeline.settings import Settings

Status = Literal["found", "none", "unusable", "error", "disabled"]
STATUSES: tuple[str, ...] = ("found", "none", "unusable", "error", "disabled")


@dataclass(frozen=True)
class ProviderResult:
    provider: str  # the provider's name, e.g. "publisher", "pocketcasts"
    status: Status
    segments: list[Segment] = field(default_factory=list)
    raw: bytes | None = None  # the bytes as downloaded (found)
    raw_ext: str | None = None  # extension of the stored raw file, e.g. "vtt"
    source: str = ""  # what transcript.json records, e.g. "podcast2.0:vtt", "pocketcasts"; empty unless found
    url: str | None = None  # the file the segments came from
    reasons: list[str] = field(default_factory=list)  # why nothing usable was found (or what was skipped)
    details: dict[str, Any] = field(default_factory=dict)  # provider-specific facts (e.g. the matched show)


@dataclass(frozen=True)
class ProviderContext:
    """What a provider may use: settings, storage, a pooled HTTP client and the feed's own options."""

    settings: Settings
    paths: DataPaths
    client: httpx.Client | None = None
    feed_options: FeedEntry | None = None  # the feed's entry in feeds.yaml, when it is listed there


class TranscriptProvider:
    """Base class: subclasses set ``name`` and ``priority`` and implement :meth:`fetch`.

    A module in :mod:`cast_pipeline.transcripts.providers` that defines ``PROVIDER`` (an instance)
    is picked up automatically; lower ``priority`` wins when several providers have a transcript.
    """

    name: str = ""
    priority: int = 100

    @property
    def record_file(self) -> str:
        return f"{self.name}.json"

    def fetch(self, episode: Episode, ctx: ProviderContext) -> ProviderResult:
        raise NotImplementedError

    def save(self, paths: DataPaths, episode_key: str, result: ProviderResult) -> None:
        """Write ``<name>.raw.<ext>`` then ``<name>.json``, each atomically."""
        raw_name = f"{self.name}.raw.{result.raw_ext or 'txt'}" if result.raw is not None else None
        if raw_name is not None and result.raw is not None:
            write_bytes_atomic(paths.episode_file(episode_key, raw_name), result.raw)
        text = segments_to_json(
            result.segments,
            episode_key=episode_key,
            provider=self.name,
            status=result.status,
            source=result.source,
            url=result.url,
            raw_file=raw_name,
            reasons=result.reasons,
            details=result.details,
        )
        write_text_atomic(paths.episode_file(episode_key, self.record_file), text)

    def load(self, paths: DataPaths, episode_key: str) -> ProviderResult | None:
        """The stored record, None when this provider was never asked (or the record is unreadable)."""
        path = paths.episode_file(episode_key, self.record_file)
        if not path.exists():
            return None
        try:
            segments, meta = segments_from_json(path.read_bytes())
        except (ValueError, KeyError, TypeError):
            return None  # a damaged record counts as never asked: the provider is asked again
        status = meta.get("status")
        return ProviderResult(
            provider=self.name,
            status=status if status in STATUSES else "error",
            segments=segments,
            source=str(meta.get("source") or ""),
            url=meta.get("url"),
            reasons=list(meta.get("reasons") or []),
            details=dict(meta.get("details") or {}),
        )
