"""What every speech backend provides, and the window loop they share.

Why a window loop in common: faster-whisper, NeMo and mlx-whisper all accept a 16 kHz float32 array,
so the decoding, the cutting of long episodes into windows (bounded memory), the offsetting and
merging of per-window results, the hallucination guards and the timing are written once here. A
backend only says how to transcribe one window (:meth:`WindowedTranscriber._transcribe_window`) and
how it wants audio cut (:attr:`WindowedTranscriber.window_plan`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cast_pipeline.segments import Segment, Word, segments_to_json, word_count
from cast_pipeline.speech.decode import AudioWindow, WindowPlan, iter_windows
from cast_pipeline.speech.errors import AudioError, SpeechError, TranscriptionError
from cast_pipeline.speech.guards import GuardReport, RemovedText, ScoredSegment, apply_guards

WindowCallback = Callable[[AudioWindow], None]


@dataclass(frozen=True)
class SpeechResult:
    segments: list[Segment]
    language: str | None
    duration: float  # seconds of audio decoded
    model: str
    backend: str
    device: str
    compute_type: str
    processing_seconds: float
    dropped_segments: int = 0  # removed by the hallucination guards
    removed: tuple[RemovedText, ...] = ()  # what the guards removed, and why
    speech_seconds: float | None = None  # speech found by VAD; None when the backend has no VAD
    chunks: int = 0  # chunks decoded in batches (0: sequential decoding)
    redecoded_chunks: int = 0  # batched chunks that ended early and whose rest was decoded again

    @property
    def realtime_factor(self) -> float:
        """Seconds of audio per second of processing (10.0 = ten times faster than realtime)."""
        return self.duration / self.processing_seconds if self.processing_seconds > 0 else float("inf")

    @property
    def words_per_minute(self) -> float:
        """Transcribed words per minute of speech (of audio without VAD): people say 120-200; far
        fewer means lost words, far more hallucinated ones."""
        seconds = self.speech_seconds if self.speech_seconds is not None else self.duration
        return 60.0 * word_count(self.segments) / seconds if seconds > 0 else 0.0

    @property
    def redecoded_share(self) -> float:
        """Share of batched chunks that ended early (0.0 for sequential decoding)."""
        return self.redecoded_chunks / self.chunks if self.chunks else 0.0

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())

    def to_json(self, **meta: Any) -> str:
        """``speech.json`` content: the segments plus how they were produced."""
        return segments_to_json(
            self.segments,
            source="speech",
            backend=self.backend,
            model=self.model,
            device=self.device,
            compute_type=self.compute_type,
            language=self.language,
            duration=round(self.duration, 3),
            processing_seconds=round(self.processing_seconds, 3),
            dropped_segments=self.dropped_segments,
            removed=[r.to_dict() for r in self.removed],
            speech_seconds=round(self.speech_seconds, 3) if self.speech_seconds is not None else None,
            words_per_minute=round(self.words_per_minute, 1),
            chunks=self.chunks,
            redecoded_chunks=self.redecoded_chunks,
            **meta,
        )


@runtime_checkable
class Transcriber(Protocol):
    """A loaded speech model; one instance serves every episode of a run."""

    backend: str
    model: str
    device: str
    compute_type: str
    window_plan: WindowPlan

    def transcribe(self, audio_path: Path, *, language: str | None = None) -> SpeechResult: ...

    def transcribe_windows(
        self,
        windows: Iterable[AudioWindow],
        *,
        language: str | None = None,
        source: str = "",
        on_window: WindowCallback | None = None,
    ) -> SpeechResult: ...


def normalize_language(language: str | None) -> str | None:
    """``en-US`` -> ``en``; empty -> None (auto-detect). Feed languages come as BCP 47 tags."""
    if not language or not language.strip():
        return None
    return language.strip().replace("_", "-").split("-")[0].lower()


def clip_segment(segment: Segment, window: AudioWindow) -> Segment | None:
    """The part of ``segment`` (in episode time) that ``window`` owns, or None.

    Owned means the midpoint lies in ``[keep_start, keep_end)``: words are tested one by one, so a
    segment straddling an overlap boundary is cut down to its owned words; a segment without word
    timings is kept or dropped whole.
    """

    def owned(start: float, end: float) -> bool:
        return window.keep_start <= (start + end) / 2 < window.keep_end

    if not segment.words:
        return segment if owned(segment.start, segment.end) else None
    words = tuple(w for w in segment.words if owned(w.start, w.end))
    if len(words) == len(segment.words):
        return segment
    if not words:
        return None
    text = " ".join(w.text.strip() for w in words)
    return replace(segment, start=words[0].start, end=words[-1].end, text=text, words=words)


def clip_to_window(segments: Iterable[Segment], window: AudioWindow) -> list[Segment]:
    """:func:`clip_segment` over a window's segments, dropping what the window does not own."""
    return [c for s in segments if (c := clip_segment(s, window)) is not None]


def shift(segment: Segment, offset: float) -> Segment:
    """``segment`` moved from window time to episode time."""
    if not offset:
        return segment
    words = tuple(Word(w.start + offset, w.end + offset, w.text, w.probability) for w in segment.words)
    return replace(segment, start=segment.start + offset, end=segment.end + offset, words=words)


@dataclass
class WindowOutput:
    """One window's segments (window time), its language, and what decoding it took."""

    items: list[ScoredSegment]
    language: str | None
    speech_seconds: float | None = None  # None: the backend cannot tell speech from silence
    chunks: int = 0
    redecoded_chunks: int = 0


class WindowedTranscriber:
    """Base of the real backends: runs :meth:`_transcribe_window` over the windows of a file."""

    backend = "base"
    window_plan = WindowPlan()

    def __init__(self, model: str, device: str, compute_type: str) -> None:
        self.model = model
        self.device = device
        self.compute_type = compute_type

    def _check_language(self, language: str | None) -> str | None:
        """Normalise (and for English-only models, validate) the requested language."""
        return normalize_language(language)

    def _transcribe_window(self, window: AudioWindow, language: str | None) -> tuple[list[ScoredSegment], str | None]:
        """Segments of one window in *window* time (0 = window start), and the language used."""
        raise NotImplementedError

    def _decode_window(self, window: AudioWindow, language: str | None) -> WindowOutput:
        """:meth:`_transcribe_window` plus decoding figures; backends that have them override this."""
        items, detected = self._transcribe_window(window, language)
        return WindowOutput(items, detected)

    def transcribe(self, audio_path: Path, *, language: str | None = None) -> SpeechResult:
        return self.transcribe_windows(
            iter_windows(audio_path, self.window_plan), language=language, source=str(audio_path)
        )

    def transcribe_windows(
        self,
        windows: Iterable[AudioWindow],
        *,
        language: str | None = None,
        source: str = "",
        on_window: WindowCallback | None = None,
    ) -> SpeechResult:
        started = time.perf_counter()
        lang = self._check_language(language)
        scored: list[ScoredSegment] = []
        duration = 0.0
        totals = WindowOutput([], None, speech_seconds=0.0)
        for window in windows:
            try:
                out = self._decode_window(window, lang)
            except SpeechError:
                raise
            except Exception as exc:
                where = f"{source or 'audio'} at {window.offset:.0f} s"
                raise TranscriptionError(f"{self.backend} ({self.model}) failed on {where}: {exc}") from exc
            lang = lang or out.language  # the first window's detected language holds for the episode
            if out.speech_seconds is None or totals.speech_seconds is None:
                totals.speech_seconds = None
            else:
                totals.speech_seconds += out.speech_seconds
            totals.chunks += out.chunks
            totals.redecoded_chunks += out.redecoded_chunks
            for item in out.items:
                seg = clip_segment(shift(item.segment, window.offset), window)
                if seg is not None:
                    scored.append(replace(item, segment=seg))
            duration = max(duration, window.end)
            if on_window is not None:
                on_window(window)
        if duration == 0.0:
            raise AudioError(f"audio {source or ''} contains no samples")
        segments, report = apply_guards(scored)
        return self._result(segments, lang, duration, time.perf_counter() - started, report, totals)

    def _result(
        self,
        segments: list[Segment],
        language: str | None,
        duration: float,
        seconds: float,
        report: GuardReport,
        totals: WindowOutput | None = None,
    ) -> SpeechResult:
        totals = totals or WindowOutput([], None)
        return SpeechResult(
            segments=segments,
            language=language,
            duration=duration,
            model=self.model,
            backend=self.backend,
            device=self.device,
            compute_type=self.compute_type,
            processing_seconds=seconds,
            dropped_segments=report.total,
            removed=tuple(report.removed),
            speech_seconds=totals.speech_seconds,
            chunks=totals.chunks,
            redecoded_chunks=totals.redecoded_chunks,
        )
