"""Publisher transcript and chosen transcript assets: the transcript-first path.

``publisher_transcript`` always materialises: its value is the outcome of looking for the publisher's
own transcript (found / none offered / unusable, with reasons), which is what decides whether the
episode's audio is downloaded at all. ``transcript`` renders the best available source into merged
phrases, JSON and Markdown; an episode with no source yet is recorded as ``awaiting_audio`` and no
transcript file is written (nothing is faked).

``transcript`` depends on ``publisher_transcript`` and on the speech assets of the setup it runs in,
so it is built by :func:`build_transcript_asset`: on one machine (``transcript`` below) the local
speech asset is in the same code location and run; in the core code location the GPU and Mac
speech assets live in other locations and are dependencies by key only (cast_pipeline.locations).
"""

from collections.abc import Sequence
from typing import Any

import dagster as dg

from cast_pipeline.defs.batching import per_episode
from cast_pipeline.defs.feeds.assets import OWNERS, episode
from cast_pipeline.defs.feeds.partitions import episode_backfill_policy, episodes_partitions
from cast_pipeline.defs.speakers.keys import speakers_key
from cast_pipeline.defs.speech.keys import LOCAL, TRANSCRIPT_KEY, speech_key
from cast_pipeline.defs.storage.resources import CastResource
from cast_pipeline.feeds.snapshot import load_episode
from cast_pipeline.http import make_client
from cast_pipeline.integrity import files_metadata
from cast_pipeline.segments import word_count
from cast_pipeline.transcripts.publisher import (
    PUBLISHER_FILE,
    RAW_PREFIX,
    PublisherTranscript,
    fetch_publisher_transcript,
    save_publisher_transcript,
)
from cast_pipeline.transcripts.store import TRANSCRIPT_JSON, TRANSCRIPT_MD, build_transcript, transcript_stats

PREVIEW_LINES = 12


@dg.asset(
    partitions_def=episodes_partitions,
    deps=[episode],
    backfill_policy=episode_backfill_policy,
    group_name="transcripts",
    kinds={"json"},
    owners=OWNERS,
    tags={"domain": "transcripts"},
    description="The publisher's own transcript (Podcasting 2.0 <podcast:transcript>), best format first "
    "(VTT > SRT > JSON > HTML > text, feed language preferred). Status found / none / unusable; "
    "only episodes without a usable one go on to audio and speech.",
)
def publisher_transcript(context: dg.AssetExecutionContext, cast: CastResource):
    paths, settings = cast.paths(), cast.settings()
    with make_client(settings) as client:

        def work(key: str) -> dict[str, Any]:
            ep = load_episode(paths, key)
            result = fetch_publisher_transcript(ep, settings, client=client)
            save_publisher_transcript(paths, key, result)
            if result.status != "found":
                context.log.info(f"episode {key} ({ep.title!r}): no usable publisher transcript, needs audio")
            written = [PUBLISHER_FILE, *(p.name for p in paths.episode_dir(key).glob(RAW_PREFIX + "*"))]
            return {**_publisher_metadata(ep.title, result), **files_metadata(paths.episode_dir(key), written)}

        yield from per_episode(context, work)


def _publisher_metadata(title: str, result: PublisherTranscript) -> dict[str, Any]:
    return {
        "title": title,
        "status": result.status,
        "needs_audio": result.status != "found",
        "source": result.source or "none",
        "url": result.link.url if result.link else "none",
        "segments": len(result.segments),
        "words": word_count(result.segments),
        "reasons": dg.MetadataValue.md("\n".join(f"- {r}" for r in result.reasons) or "none"),
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
        "SRT/VTT/TXT on demand (`cast-pipeline transcript show`).",
    )
    def transcript(context: dg.AssetExecutionContext, cast: CastResource):
        paths = cast.paths()

        def work(key: str) -> dict[str, Any]:
            ep = load_episode(paths, key)
            doc = build_transcript(paths, ep)
            if doc is None:
                context.log.info(f"episode {key} ({ep.title!r}) has no transcript source yet: awaiting audio")
                return {"title": ep.title, "feed": ep.feed_title, "status": "awaiting_audio"}
            preview = paths.episode_file(key, TRANSCRIPT_MD).read_text(encoding="utf-8").splitlines()
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
            }

        yield from per_episode(context, work)

    return transcript


# Single machine (cast_pipeline.definitions): the local speech asset is in the same location and run.
transcript = build_transcript_asset([speech_key(LOCAL), speakers_key(LOCAL)])
