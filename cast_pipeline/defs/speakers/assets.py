"""The ``<prefix>/speakers`` asset: who spoke when in the location's speech result, per episode.

Between ``<prefix>/speech_transcript`` and ``transcript``: it reads ``speech-<prefix>.json`` and the
episode's audio, and writes ``speakers-<prefix>.json`` (cast_pipeline.speakers.episodes); the
transcript then labels words and phrases from it. Being its own asset means diarization can be
re-run (a better method, CAST_DIARIZATION changed: the code version is ``method:model``) without
re-transcribing: materialise ``<prefix>/speakers`` for the episodes, and the ``transcript_sources``
sensor rebuilds their transcripts.
"""

import time
from collections.abc import Mapping
from typing import Any

import dagster as dg

from cast_pipeline.defs.batching import per_episode
from cast_pipeline.defs.feeds.assets import OWNERS
from cast_pipeline.defs.feeds.partitions import FIND_BY_TITLE, episode_backfill_policy, episodes_partitions
from cast_pipeline.defs.speakers.keys import speakers_key
from cast_pipeline.defs.speech.keys import speech_key
from cast_pipeline.defs.storage.resources import CastResource
from cast_pipeline.feeds.snapshot import load_episode
from cast_pipeline.integrity import files_metadata
from cast_pipeline.settings import load_settings
from cast_pipeline.speakers import describe, diarizer_from_settings
from cast_pipeline.speakers.episodes import diarize_episode, speech_path
from cast_pipeline.speakers.model import SpeakerResult, speakers_file
from cast_pipeline.transcripts.providers import speech_not_needed

DIARIZED = "diarized"
NOT_NEEDED = "not_needed"
OFF = "off"


def _metadata(title: str, result: SpeakerResult) -> dict[str, Any]:
    talk = result.talk_time()
    lines = [f"- {name}: {seconds:.0f} s" for name, seconds in talk.items()]
    return {
        "title": title,
        "status": DIARIZED,
        "method": result.method,
        "model": result.model,
        "speakers": len(talk),
        "turns": len(result.turns),
        "duration_seconds": round(result.duration, 2),
        "processing_seconds": round(result.processing_seconds, 2),
        "talk_time": dg.MetadataValue.md("\n".join(lines) or "no speech"),
    }


def build_speakers_asset(prefix: str, *, op_tags: Mapping[str, str] | None = None) -> dg.AssetsDefinition:
    """``<prefix>/speakers``, its code version the configured ``method:model`` (``off`` when disabled).

    ``op_tags``: the fleet runs it on the same Celery queue as the speech it diarizes.
    """
    try:
        version = describe(load_settings())
    except ValueError:  # a bad CAST_DIARIZATION: each episode's step reports it, the location still loads
        version = "misconfigured"
    out_name = speakers_file(prefix)

    @dg.asset(
        key=speakers_key(prefix),
        partitions_def=episodes_partitions,
        deps=[speech_key(prefix)],
        backfill_policy=episode_backfill_policy,
        group_name="speech",
        kinds={"json"},
        owners=OWNERS,
        tags={"domain": "speakers"},
        op_tags=dict(op_tags) if op_tags else None,
        code_version=version,
        description=f"Speaker diarization of the episode's speech result in this location ({prefix}), method "
        f"{version} (the code version; CAST_DIARIZATION, off to disable). Writes {out_name}: turns labelled "
        "Speaker 1, Speaker 2... by first appearance, tied to the speech result they were made for. Episodes "
        "with a ready-made transcript (or awaiting one) are not_needed. Re-run it alone to re-diarize without "
        "re-transcribing." + FIND_BY_TITLE,
    )
    def speakers(context: dg.AssetExecutionContext, cast: CastResource):
        paths, settings = cast.paths(), cast.settings()
        diarizer = diarizer_from_settings(settings)

        def work(key: str) -> dict[str, Any]:
            ep = load_episode(paths, key)
            if diarizer is None:
                return {"title": ep.title, "status": OFF, "reason": "CAST_DIARIZATION=off"}
            if not speech_path(paths, key, prefix).exists() and (why := speech_not_needed(paths, key)):
                return {"title": ep.title, "status": NOT_NEEDED, "reason": why}
            started = time.perf_counter()
            result = diarize_episode(paths, key, prefix, diarizer)
            context.log.info(
                f"episode {key} ({ep.title!r}): {len(result.speakers)} speakers in {len(result.turns)} turns, "
                f"{result.duration:.0f} s of audio diarized in {time.perf_counter() - started:.1f} s ({result.method})"
            )
            return {**_metadata(ep.title, result), **files_metadata(paths.episode_dir(key), [out_name])}

        yield from per_episode(context, work)

    return speakers
