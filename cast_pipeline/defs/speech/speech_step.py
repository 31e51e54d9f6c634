"""A speech asset's work for one run's batch, shared by ``<prefix>/speech_transcript`` and the single
machine's audio+speech step (cast_pipeline.defs.speech.overlap).

Each episode is first *planned* (needs no speech, finished earlier, or: this file in this language),
then transcribed in partition order by one model, which :func:`cast_pipeline.speech.transcribe_files`
keeps busy by decoding the next file ahead. Why plans can be made lazily: when the same step
downloads the audio, the next episode can only be planned once its download has ended; the decode
thread then waits for that download, and the model never waits for one it does not need yet.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from cast_pipeline.defs.speech.episode_audio import episode_audio_path, fingerprint
from cast_pipeline.defs.speech.resources import SpeechModel
from cast_pipeline.feeds.snapshot import load_episode
from cast_pipeline.fleet.settings import worker_identity
from cast_pipeline.integrity import files_metadata
from cast_pipeline.paths import DataPaths, write_text_atomic
from cast_pipeline.segments import word_count
from cast_pipeline.speech import SpeechResult, Transcriber, transcribe_files
from cast_pipeline.speech.reuse import REUSED, ReusableSpeech, reusable_speech
from cast_pipeline.transcripts.providers import speech_not_needed
from cast_pipeline.transcripts.store import speech_file

TRANSCRIBED = "transcribed"
NOT_NEEDED = "not_needed"
PREVIEW_CHARS = 600


@dataclass(frozen=True)
class _Planned:
    """An episode of the batch that needs the model: its audio and the language to ask for."""

    path: Path
    language: str | None


@dataclass(frozen=True)
class _Plan:
    title: str
    item: _Planned | ReusableSpeech | Exception | str  # str: why no speech is needed
    note: str | None = None  # logged when the episode is recorded (plans may be made on another thread)


class _BatchTranscriber:
    """Hands out the batch's speech results in partition order, loading the model on first need.

    Why: per_episode processes keys one by one, while transcribe_files wants the paths ahead to
    decode ahead. ``planned`` yields the episodes that need the model in the same order as the
    results are asked for (lazily, possibly waiting for downloads); a batch with nothing to
    transcribe never loads the model.
    """

    def __init__(self, planned: Iterable[_Planned], speech_model: SpeechModel) -> None:
        self._planned = planned
        self._model = speech_model
        self._results: Iterator[tuple[Path, SpeechResult | Exception]] | None = None
        self.transcriber: Transcriber | None = None

    def _paths(self, languages: dict[Path, str | None]) -> Iterator[Path]:
        for planned in self._planned:
            languages[planned.path] = planned.language
            yield planned.path

    def next_result(self, expected: Path) -> SpeechResult:
        if self._results is None:
            self.transcriber = self._model.transcriber()  # raises the load error for every episode
            languages: dict[Path, str | None] = {}
            self._results = transcribe_files(self._paths(languages), self.transcriber, languages=languages)
        path, outcome = next(self._results)
        if path != expected:  # pragma: no cover - guards the order invariant
            raise RuntimeError(f"speech results out of order: expected {expected}, got {path}")
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def close(self) -> None:
        if self._results is not None:
            self._results.close()  # type: ignore[attr-defined]  # stops the decode thread


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


class SpeechStep:
    """Plans and transcribes the episodes ``keys`` for location ``prefix``; ``work(key)`` is per_episode's work.

    ``version``: the asset's code version (``<backend>:<model>`` of the location's configured model),
    written into each result and compared with earlier results to reuse them.

    ``audio_ready(key)``, when given, waits for the episode's audio (raising its download error): plans
    are then made as downloads end. Without it (the audio was materialised by an earlier step or run),
    the whole batch is planned up front. Call :meth:`close` when done.
    """

    def __init__(
        self,
        paths: DataPaths,
        prefix: str,
        version: str,
        speech_model: SpeechModel,
        keys: Sequence[str],
        log: logging.Logger,
        audio_ready: Callable[[str], object] | None = None,
    ) -> None:
        self.paths, self.prefix, self.model, self.log = paths, prefix, speech_model, log
        self.version = version
        self.out_name = speech_file(prefix)
        self._audio_ready = audio_ready
        self._plans: dict[str, Future[_Plan]] = {}
        self._lock = threading.Lock()
        planned = (plan.item for key in keys if isinstance((plan := self.plan(key)).item, _Planned))
        self.batch = _BatchTranscriber(planned, speech_model)  # type: ignore[arg-type]
        if audio_ready is None:
            for key in keys:
                self.plan(key)

    def plan(self, key: str) -> _Plan:
        """The episode's plan, made once by whichever thread asks first (the decode thread or the step's)."""
        with self._lock:
            future = self._plans.get(key)
            mine = future is None
            if future is None:
                future = self._plans[key] = Future()
        if mine:
            future.set_result(self._make_plan(key))
        return future.result()

    def _make_plan(self, key: str) -> _Plan:
        title = ""
        try:
            ep = load_episode(self.paths, key)
            title = ep.title
            if self._audio_ready is not None:
                self._audio_ready(key)
            if reason := speech_not_needed(self.paths, key, asked=True):
                return _Plan(title, reason)
            audio_path = episode_audio_path(self.paths, key)
            # Finished earlier (e.g. by a run killed later in the batch): reuse, never redo.
            out = self.paths.episode_file(key, self.out_name)
            done, why = reusable_speech(out, fingerprint(audio_path), self.version)
            note = f"episode {key} ({title!r}): {why}" if done is None and why != "no earlier result" else None
            language = self.model.language_for(ep.language)
            return _Plan(title, done or _Planned(audio_path, language), note)
        except Exception as exc:  # raised again for this episode only, by work()
            return _Plan(title, exc)

    def work(self, key: str) -> dict[str, Any]:
        plan = self.plan(key)
        planned, title = plan.item, plan.title
        if plan.note:
            self.log.info(plan.note)
        if isinstance(planned, Exception):
            raise planned
        if isinstance(planned, str):
            return {"title": title, "status": NOT_NEEDED, "reason": planned}
        if isinstance(planned, ReusableSpeech):
            self.log.info(f"episode {key} ({title!r}): {planned.reason()}")
            return {**_reused_metadata(title, planned), **self._written(key)}
        result = self.batch.next_result(planned.path)  # first: the results must be taken in order whatever fails
        audio_fp = fingerprint(planned.path)
        text = result.to_json(
            episode_key=key,
            location=self.prefix,
            audio_file=planned.path.name,
            audio_fingerprint=audio_fp,
            realtime_factor=round(result.realtime_factor, 3) if result.processing_seconds > 0 else None,
            **worker_identity(),
            code_version=self.version,
            transcribed_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        write_text_atomic(self.paths.episode_file(key, self.out_name), text)
        self.log.info(
            f"episode {key}: {result.duration:.0f} s of audio transcribed in {result.processing_seconds:.1f} s "
            f"({result.realtime_factor:.1f}x realtime) by {result.backend}:{result.model} on {result.device}"
        )
        return {**_speech_metadata(title, result, planned.path, audio_fp), **self._written(key)}

    def _written(self, key: str) -> dict[str, Any]:
        return files_metadata(self.paths.episode_dir(key), [self.out_name])

    def close(self) -> None:
        self.batch.close()
