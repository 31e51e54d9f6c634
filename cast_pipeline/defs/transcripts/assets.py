"""Publisher transcript and chosen transcript assets: the transcript-first path.

``publisher_transcript`` always materialises: its value is the outcome of looking for a ready-made
transcript, the publisher's own first, then the other providers (Pocket Casts; see
cast_pipeline.transcripts.providers), with each provider's answer and reasons. That is what decides
whether the episode's audio is downloaded at all. ``transcript`` renders the best available source into merged
phrases, JSON and Markdown; an episode with no source yet is recorded as ``awaiting_audio`` and no
transcript file is written (nothing is faked).

``transcript`` depends on ``publisher_transcript`` and on the speech assets of the setup it runs in,
so it is built by :func:`build_transcript_asset`: on one machine (``transcript`` below) the local
speech asset is in the same code location and run; in the core code location the GPU and Mac
speech assets live in other locations and are dependencies by key only (cast_pipeline.locations).
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from cast_pipeline.defs.batching import per_episode
from cast_pipeline.defs.feeds.assets import OWNERS, episode
from cast_pipeline.defs.feeds.partitions import FIND_BY_TITLE, episode_backfill_policy, episodes_partitions
from cast_pipeline.defs.speakers.keys import speakers_key
from cast_pipeline.defs.speech.keys import LOCAL, TRANSCRIPT_KEY, speech_key
from cast_pipeline.defs.storage.resources import CastResource
from cast_pipeline.feeds.registry import FeedEntry, read_feed_entries
from cast_pipeline.feeds.snapshot import load_episode
from cast_pipeline.http import make_client
from cast_pipeline.integrity import files_metadata
from cast_pipeline.keys import feed_key
from cast_pipeline.segments import word_count
from cast_pipeline.settings import Settings
from cast_pipeline.transcripts.awaiting import AwaitState, awaiting_reason, decide, load_await, save_await
from cast_pipeline.transcripts.providers import ChainResult, ProviderContext, find_ready_made, providers
from cast_pipeline.transcripts.store import (
    TRANSCRIPT_JSON,
    TRANSCRIPT_MD,
    build_transcript,
    previous_source,
    transcript_stats,
)

PREVIEW_LINES = 12
AWAITING = "awaiting_transcript"


@dg.asset(
    partitions_def=episodes_partitions,
    deps=[episode],
    backfill_policy=episode_backfill_policy,
    group_name="transcripts",
    kinds={"json"},
    owners=OWNERS,
    tags={"domain": "transcripts"},
    description="A ready-made transcript: the publisher's own (Podcasting 2.0 <podcast:transcript>, best format "
    "first: VTT > SRT > JSON > HTML > text, feed language preferred), else Pocket Casts' generated one "
    "(CAST_POCKETCASTS, per feed `pocketcasts: false`). Status found / none / unusable with each provider's "
    "answer and reasons; only episodes without one go on to audio and speech. Find an episode by title: "
    "the partition metadata starts with it (see the end). A new episode without "
    "one is awaiting_transcript (no audio) for CAST_AWAIT_TRANSCRIPT_DAYS, re-checked by the awaiting_transcripts "
    "sensor (next_check in the metadata)." + FIND_BY_TITLE,
)
def publisher_transcript(context: dg.AssetExecutionContext, cast: CastResource):
    paths, settings = cast.paths(), cast.settings()
    options = feed_options(settings, context.log)
    with make_client(settings) as client:

        def work(key: str) -> dict[str, Any]:
            ep = load_episode(paths, key)
            feed_options = options.get(ep.feed_key)
            chain = find_ready_made(ep, ProviderContext(settings, paths, client, feed_options))
            days = settings.await_transcript_days
            if feed_options is not None and feed_options.await_transcript_days is not None:
                days = feed_options.await_transcript_days
            waiting = decide(ep, chain.found is not None, days, datetime.now(UTC), load_await(paths, key))
            save_await(paths, key, waiting)
            if chain.found is None:
                context.log.info(f"episode {key} ({ep.title!r}): no ready-made transcript; {waiting.reason}")
            written = [p.record_file for p in providers()]  # (await.json is state, rewritten by each look)
            written += [f.name for f in paths.episode_dir(key).glob("*.raw.*")]
            written = [name for name in written if paths.episode_file(key, name).exists()]
            return {**_ready_made_metadata(ep.title, chain, waiting), **files_metadata(paths.episode_dir(key), written)}

        yield from per_episode(context, work)


def feed_options(settings: Settings, log: Any) -> dict[str, FeedEntry]:
    """Per-feed options of the feeds file by feed key (a broken file is logged; defaults apply)."""
    try:
        return {feed_key(e.url): e for e in read_feed_entries(settings.feeds_file)}
    except Exception as exc:
        log.warning(f"cannot read per-feed options from {settings.feeds_file}: {exc}; using the defaults")
        return {}


def _ready_made_metadata(title: str, chain: ChainResult, waiting: AwaitState) -> dict[str, Any]:
    found = chain.found
    first = chain.results[0] if chain.results else None
    status = "found" if found is not None else ("unusable" if first and first.status == "unusable" else "none")
    if waiting.awaiting:
        status = AWAITING
    return {
        "title": title,
        "status": status,
        "needs_audio": found is None and not waiting.awaiting,
        "awaiting": waiting.reason,
        "next_check": waiting.next_check or "none",
        "source": found.source if found else "none",
        "url": (found.url or "none") if found else "none",
        "segments": len(found.segments) if found else 0,
        "words": word_count(found.segments) if found else 0,
        "providers": ", ".join(f"{r.provider}: {r.status}" for r in chain.results) or "none",
        "reasons": dg.MetadataValue.md("\n".join(f"- {r}" for r in chain.reasons) or "none"),
    }


def build_transcript_asset(speech_keys: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    """The ``transcript`` asset, depending on ``publisher_transcript`` and the given speech assets."""

    @dg.asset(
        key=TRANSCRIPT_KEY,
        partitions_def=episodes_partitions,
        deps=[publisher_transcript, *speech_keys],
        backfill_policy=episode_backfill_policy,
        group_name="transcripts",
        kinds={"markdown", "json"},
        owners=OWNERS,
        tags={"domain": "transcripts"},
        description="The episode's transcript from the best source (publisher, else the newest speech model "
        "result), merged into readable phrases; transcript.json + transcript.md (with the source and model), "
        "SRT/VTT/TXT on demand (`cast-pipeline transcript show KEY`)." + FIND_BY_TITLE,
    )
    def transcript(context: dg.AssetExecutionContext, cast: CastResource):
        paths = cast.paths()

        def work(key: str) -> dict[str, Any]:
            ep = load_episode(paths, key)
            before = previous_source(paths, key)
            doc = build_transcript(paths, ep)
            if doc is None:
                waiting = awaiting_reason(paths, key)
                status = AWAITING if waiting else "awaiting_audio"
                context.log.info(f"episode {key} ({ep.title!r}) has no transcript source yet: {status}")
                return {"title": ep.title, "feed": ep.feed_title, "status": status, "reason": waiting or "needs audio"}
            preview = paths.episode_file(key, TRANSCRIPT_MD).read_text(encoding="utf-8").splitlines()
            if before and before != doc.source:  # e.g. a late publisher transcript replaced the speech one
                context.log.info(f"episode {key} ({ep.title!r}): transcript source {before} -> {doc.source}")
            return {
                "title": ep.title,
                "feed": ep.feed_title,
                "status": "ready",
                **transcript_stats(doc),
                "model": doc.meta.get("model") or "none",
                "format": "markdown+json",
                "path": str(paths.episode_file(key, TRANSCRIPT_MD)),
                "preview": dg.MetadataValue.md("\n".join(preview[: PREVIEW_LINES + 4])),
                **files_metadata(paths.episode_dir(key), [TRANSCRIPT_JSON, TRANSCRIPT_MD]),
                "previous_source": before if before and before != doc.source else "unchanged",
            }

        yield from per_episode(context, work)

    return transcript


# Single machine (cast_pipeline.definitions): the local speech asset is in the same location and run.
transcript = build_transcript_asset([speech_key(LOCAL), speakers_key(LOCAL)])
