"""The ``audio`` asset (core side) and the ``<prefix>/speech_transcript`` asset factory.

``audio`` downloads an episode's enclosure only when the publisher offers no usable transcript
(transcript-first: most episodes of feeds with transcripts never cost a download). A complete,
valid earlier download of the same URL is reused.

``build_speech_asset(prefix, model)`` makes the speech asset of one transcription location
(``local`` on a single machine, ``gpu`` in transcribe_gpu, ``mac`` in transcribe_mac: an asset key
can be materialised in only one code location). One run loads the model once and transcribes the
batch with :func:`cast_pipeline.speech.transcribe_files`, which decodes the next file while the
model works on the current one; a file that fails fails only its own partition.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from cast_pipeline.defs.batching import per_episode
from cast_pipeline.defs.feeds.assets import OWNERS
from cast_pipeline.defs.feeds.partitions import FIND_BY_TITLE, episode_backfill_policy, episodes_partitions
from cast_pipeline.defs.speech.episode_audio import episode_audio_path, fingerprint
from cast_pipeline.defs.speech.keys import AUDIO_KEY, speech_key
from cast_pipeline.defs.speech.prefetch import AudioPrefetch
from cast_pipeline.defs.speech.resources import SpeechModel
from cast_pipeline.defs.storage.resources import CastResource
from cast_pipeline.defs.transcripts.assets import publisher_transcript
from cast_pipeline.feeds.snapshot import load_episode
from cast_pipeline.fleet.settings import worker_identity
from cast_pipeline.http import make_client
from cast_pipeline.integrity import files_metadata
from cast_pipeline.paths import write_text_atomic
from cast_pipeline.segments import word_count
from cast_pipeline.speech import AudioError, SpeechResult, Transcriber, probe_duration, transcribe_files
from cast_pipeline.speech.audio import audio_user_agent
from cast_pipeline.speech.reuse import REUSED, ReusableSpeech, reusable_speech
from cast_pipeline.transcripts.awaiting import awaiting_reason
from cast_pipeline.transcripts.providers import ready_made, speech_not_needed
from cast_pipeline.transcripts.store import speech_file

NOT_NEEDED = "not_needed"
DOWNLOADED = "downloaded"
TRANSCRIBED = "transcribed"
PREVIEW_CHARS = 600


@dg.asset(
    partitions_def=episodes_partitions,
    deps=[publisher_transcript],
    backfill_policy=episode_backfill_policy,
    group_name="speech",
    kinds={"audio"},
    owners=OWNERS,
    tags={"domain": "speech"},
    description="The episode's audio (its RSS enclosure), downloaded only when the publisher offers no "
    "usable transcript; otherwise status not_needed and nothing is fetched. Stored as audio.<ext> (format "
    "from the magic bytes, HTML pages rejected) with audio.json; a complete download of the same URL is "
    "reused. Local file enclosures are accepted only from feeds that are local files." + FIND_BY_TITLE,
)
def audio(context: dg.AssetExecutionContext, cast: CastResource):
    paths, settings = cast.paths(), cast.settings()
    skipped: dict[str, dict[str, Any]] = {}  # episodes that need no audio, with the reason

    def wanted(key: str) -> bool:
        ep = load_episode(paths, key)
        found = ready_made(paths, key, asked=True)  # publisher, Pocket Casts... (transcripts.providers)
        if found is not None:
            reason = f"{found.provider} transcript found ({found.source})"
            skipped[key] = {"title": ep.title, "status": NOT_NEEDED, "reason": reason}
        elif waiting := awaiting_reason(paths, key):  # a young episode: its transcript may still come
            skipped[key] = {"title": ep.title, "status": "awaiting_transcript", "reason": waiting}
        return key not in skipped

    with (
        make_client(settings, user_agent=audio_user_agent(settings)) as client,
        AudioPrefetch(paths, context.partition_keys, settings, client, wanted=wanted) as fetching,
    ):
        # Downloads run a few at a time (AudioPrefetch); episodes are recorded in order as theirs ends.

        def work(key: str) -> dict[str, Any]:
            fetched = fetching.result(key)
            if fetched is None:
                return skipped[key]
            record, reused = fetched
            ep = load_episode(paths, key)
            url = record.url
            path = paths.episode_file(key, record.file)
            try:
                duration: float | None = round(probe_duration(path), 3)
            except AudioError as exc:  # the speech step reports undecodable audio for this episode
                context.log.warning(f"episode {key}: could not read the duration of {path}: {exc}")
                duration = None
            context.log.info(
                f"episode {key} ({ep.title!r}): audio {'reused' if reused else 'downloaded'}, "
                f"{record.bytes} bytes {record.format}"
            )
            return {
                "title": ep.title,
                "status": DOWNLOADED,
                "reused": reused,
                "url": dg.MetadataValue.url(url) if url.startswith("http") else url,
                "file": str(path),
                "bytes": record.bytes,
                "format": record.format,
                "content_type": record.content_type or "unknown",
                "duration_seconds": duration if duration is not None else "unknown",
                "fingerprint": record.fingerprint,
            }

        yield from per_episode(context, work)


@dataclass(frozen=True)
class _Planned:
    """An episode of the batch that needs the model: its audio and the language to ask for."""

    path: Path
    language: str | None


class _BatchTranscriber:
    """Hands out the batch's speech results in partition order, loading the model on first need.

    Why: per_episode processes keys one by one, while transcribe_files wants every path up front to
    decode ahead. Planning the batch first (who needs speech, which file, which language) and then
    pulling results in the same order gives both, and a batch with nothing to transcribe never
    loads the model.
    """

    def __init__(self, planned: list[_Planned], speech_model: SpeechModel) -> None:
        self._planned = planned
        self._model = speech_model
        self._results: Iterator[tuple[Path, SpeechResult | Exception]] | None = None
        self.transcriber: Transcriber | None = None

    def next_result(self, expected: Path) -> SpeechResult:
        if self._results is None:
            self.transcriber = self._model.transcriber()  # raises the load error for every episode
            languages = {p.path: p.language for p in self._planned}
            self._results = transcribe_files([p.path for p in self._planned], self.transcriber, languages=languages)
        path, outcome = next(self._results)
        if path != expected:  # pragma: no cover - guards the order invariant
            raise RuntimeError(f"speech results out of order: expected {expected}, got {path}")
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def close(self) -> None:
        if self._results is not None:
            self._results.close()  # type: ignore[attr-defined]  # stops the prefetch thread


def _speech_metadata(title: str, result: SpeechResult, path: Path, audio_fp: str) -> dict[str, Any]:
    text = result.text
    return {
        "title": title,
        "status": TRANSCRIBED,
        "backend": result.backend,
        "model": result.model,
        "device": result.device,
        "compute_type": result.compute_type,
        "language": result.language or "unknown",
        "duration_seconds": round(result.duration, 2),
        "processing_seconds": round(result.processing_seconds, 2),
        "realtime_factor": round(result.realtime_factor, 2) if result.processing_seconds > 0 else 0.0,
        "segments": len(result.segments),
        "words": word_count(result.segments),
        "dropped_segments": result.dropped_segments,
        "words_per_minute": round(result.words_per_minute, 1),  # of speech; people say 120-200
        "speech_seconds": round(result.speech_seconds, 1) if result.speech_seconds is not None else "unknown",
        "chunks": result.chunks,
        "redecoded_share": round(result.redecoded_share, 3),
        "removed_by_guards": dg.MetadataValue.json([r.to_dict() for r in result.removed[:50]]),
        **worker_identity(),  # host, pid; queue and worker name on a fleet worker
        "audio_file": str(path),
        "audio_fingerprint": audio_fp,
        "preview": dg.MetadataValue.md(text[:PREVIEW_CHARS] + ("…" if len(text) > PREVIEW_CHARS else "")),
    }


def _reused_metadata(title: str, done: ReusableSpeech) -> dict[str, Any]:
    meta = done.meta
    return {
        "title": title,
        "status": REUSED,
        "reason": done.reason(),
        "backend": str(meta.get("backend")),
        "model": str(meta.get("model")),
        "language": meta.get("language") or "unknown",
        "duration_seconds": meta.get("duration") or 0.0,
        "segments": done.segments,
        "words": done.words,
        "speech_file": str(done.path),
        "audio_fingerprint": str(meta.get("audio_fingerprint")),
        "transcribed_at": str(meta.get("transcribed_at")),
    }


def build_speech_asset(
    prefix: str, model: SpeechModel, *, op_tags: Mapping[str, str] | None = None, pool: str = "speech"
) -> dg.AssetsDefinition:
    """The ``<prefix>/speech_transcript`` asset, its code version ``<backend>:<model>`` from ``model``.

    ``model`` is the location's configured :class:`SpeechModel` (the same values must be bound as
    the ``speech_model`` resource); its backend and model name become the asset's code version, so
    after a model change the UI marks every partition made with the old one as changed. ``op_tags``
    and ``pool``: the fleet routes the step to a Celery queue and limits it per queue.
    """
    key = speech_key(prefix)
    version = model.describe()
    out_name = speech_file(prefix)

    @dg.asset(
        key=key,
        partitions_def=episodes_partitions,
        deps=[AUDIO_KEY],
        backfill_policy=episode_backfill_policy,
        group_name="speech",
        kinds={"json"},
        owners=OWNERS,
        tags={"domain": "speech"},
        code_version=version,
        pool=pool,
        op_tags=dict(op_tags) if op_tags else None,
        description=f"Speech-to-text of the episode's audio in this code location ({prefix}), model {version} "
        f"(the code version). Writes {out_name}: segments with word times, plus model, device, duration, "
        "realtime factor, host and pid. Episodes with a publisher transcript are recorded as not_needed "
        "without loading the model. Re-transcribing episodes made with an older model is one backfill: "
        "set CAST_SPEECH_MODEL, reload the location, then Materialize -> the changed partitions -> Launch "
        "backfill; `transcript` follows through the transcript_sources sensor." + FIND_BY_TITLE,
    )
    def speech_transcript(context: dg.AssetExecutionContext, cast: CastResource, speech_model: SpeechModel):
        paths = cast.paths()
        plan: dict[str, _Planned | ReusableSpeech | Exception | str] = {}
        titles: dict[str, str] = {}
        for ep_key in context.partition_keys:
            try:
                ep = load_episode(paths, ep_key)
                titles[ep_key] = ep.title
                if reason := speech_not_needed(paths, ep_key, asked=True):
                    plan[ep_key] = reason
                else:
                    audio_path = episode_audio_path(paths, ep_key)
                    # Finished earlier (e.g. by a run killed later in the batch): reuse, never redo.
                    done, why = reusable_speech(paths.episode_file(ep_key, out_name), fingerprint(audio_path), version)
                    if done is None and why != "no earlier result":
                        context.log.info(f"episode {ep_key} ({ep.title!r}): {why}")
                    plan[ep_key] = done or _Planned(audio_path, speech_model.language_for(ep.language))
            except Exception as exc:  # raised again for this episode only, by work()
                plan[ep_key] = exc
        batch = _BatchTranscriber([p for p in plan.values() if isinstance(p, _Planned)], speech_model)

        def work(ep_key: str) -> dict[str, Any]:
            planned = plan[ep_key]
            if isinstance(planned, Exception):
                raise planned
            if isinstance(planned, str):
                return {"title": titles.get(ep_key, ""), "status": NOT_NEEDED, "reason": planned}
            if isinstance(planned, ReusableSpeech):
                context.log.info(f"episode {ep_key} ({titles[ep_key]!r}): {planned.reason()}")
                return {
                    **_reused_metadata(titles[ep_key], planned),
                    **files_metadata(paths.episode_dir(ep_key), [out_name]),
                }
            audio_fp = fingerprint(planned.path)
            result = batch.next_result(planned.path)
            text = result.to_json(
                episode_key=ep_key,
                location=prefix,
                audio_file=planned.path.name,
                audio_fingerprint=audio_fp,
                realtime_factor=round(result.realtime_factor, 3) if result.processing_seconds > 0 else None,
                **worker_identity(),
                code_version=version,
                transcribed_at=datetime.now(UTC).isoformat(timespec="seconds"),
            )
            write_text_atomic(paths.episode_file(ep_key, out_name), text)
            context.log.info(
                f"episode {ep_key}: {result.duration:.0f} s of audio transcribed in {result.processing_seconds:.1f} s "
                f"({result.realtime_factor:.1f}x realtime) by {result.backend}:{result.model} on {result.device}"
            )
            written = files_metadata(paths.episode_dir(ep_key), [out_name])
            return {**_speech_metadata(titles[ep_key], result, planned.path, audio_fp), **written}

        try:
            yield from per_episode(context, work)
        finally:
            batch.close()

    return speech_transcript
