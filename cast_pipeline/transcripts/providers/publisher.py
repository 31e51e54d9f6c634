"""The publisher's own ``<podcast:transcript>`` links as a provider (highest priority).

The work is done by :mod:`cast_pipeline.transcripts.publisher` (ranking, fetching, parsing); this
adapter maps its outcome onto the provider interface and keeps its record file ``publisher.json``.
"""

from __future__ import annotations

from dataclasses import asdict

from cast_pipeline.feeds.model import Episode, TranscriptLink
from cast_pipeline.paths import DataPaths
from cast_pipeline.transcripts.providers.base import ProviderContext, ProviderResult, TranscriptProvider
from cast_pipeline.transcripts.publisher import (
    PUBLISHER_FILE,
    PublisherTranscript,
    fetch_publisher_transcript,
    load_publisher_transcript,
    save_publisher_transcript,
)


def _as_result(found: PublisherTranscript) -> ProviderResult:
    reasons = list(found.reasons)
    if found.status == "none":
        reasons = reasons or ["the feed item has no <podcast:transcript> tag"]
    return ProviderResult(
        provider="publisher",
        status=found.status,
        segments=found.segments,
        raw=found.raw,
        source=found.source,
        url=found.link.url if found.link else None,
        reasons=reasons,
        details={"link": asdict(found.link)} if found.link else {},
    )


class PublisherProvider(TranscriptProvider):
    name = "publisher"
    priority = 10

    @property
    def record_file(self) -> str:
        return PUBLISHER_FILE

    def fetch(self, episode: Episode, ctx: ProviderContext) -> ProviderResult:
        return _as_result(fetch_publisher_transcript(episode, ctx.settings, client=ctx.client))

    def save(self, paths: DataPaths, episode_key: str, result: ProviderResult) -> None:
        link = TranscriptLink(**result.details["link"]) if result.details.get("link") else None
        status = result.status if result.status in ("found", "none", "unusable") else "unusable"
        reasons = result.reasons if result.status != "none" else []
        record = PublisherTranscript(status, link, result.segments, result.raw, result.source, reasons)
        save_publisher_transcript(paths, episode_key, record)

    def load(self, paths: DataPaths, episode_key: str) -> ProviderResult | None:
        try:
            return _as_result(load_publisher_transcript(paths, episode_key))
        except (FileNotFoundError, ValueError):
            return None


PROVIDER = PublisherProvider()
