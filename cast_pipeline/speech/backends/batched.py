"""Batched faster-whisper decoding that keeps the ends of its chunks.

Why: ``BatchedInferencePipeline`` packs VAD speech into chunks of up to 30 s and decodes each in one
pass, several at once: about 2x the throughput of sequential decoding on 2 CPU cores, 3-4x on a GPU.
But one pass has no seek loop, so a small model that emits its end-of-text token early silently
drops the rest of the chunk (measured with bench/bench_speech.py on 10 min of LibriVox + JFK with
tiny.en: 4 of 20 chunks lost their last 7-14 s, WER 9.1 % against 5.4 % sequential).

What this does instead, per window:

1. Silero VAD (faster-whisper's, offline) finds the speech; it is packed, silence removed, into
   chunks of at most 30 s exactly as the bare pipeline packs it.
2. Every chunk is decoded in batches (the pipeline with ``clip_timestamps`` over the packed audio).
3. A chunk whose last word ends more than ``early_end_seconds`` before the chunk does "ended
   early": just its rest, from its last word to its end, is decoded again, packed with the rests
   of the other such chunks into shared 30 s chunks (one encoder pass for several rests) and
   batched; repeated while a round still finds words, at most ``max_rounds``.
4. Times are mapped back from packed to window time by faster-whisper's own
   ``restore_speech_timestamps``.

On the benchmark (10.4 min): 3 of 20 chunks re-decoded, 0.87-0.92 of the bare batched throughput,
WER 2.4 % (bare batched 7.3 %, bare sequential 8.0 %). Word-free chunks get the same treatment, so a chunk the model
skipped whole is tried once more.

A batched chunk comes back as one segment of up to 30 s; :func:`split_sentences` cuts it at its
sentence ends (with the words' own times), so transcripts read in sentences as with sequential
decoding, and the hallucination guards judge a sentence, not half a minute.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from cast_pipeline.segments import Segment
from cast_pipeline.speech.decode import SAMPLE_RATE
from cast_pipeline.speech.guards import ScoredSegment
from cast_pipeline.transcripts.merge import _inner_cuts  # the transcripts' own sentence-end rule

CHUNK_SECONDS = 30.0  # Whisper's window: longer chunks would be cut by the model
EARLY_END_SECONDS = 1.5  # speech left after a chunk's last word that counts as "ended early"
MAX_ROUNDS = 3  # the first pass plus at most two re-decodes of a chunk's rest
_FRAMES_PER_SECOND = 100  # faster-whisper's feature frames per second (its segments' ``seek`` unit)


@dataclass(frozen=True)
class BatchStats:
    """What one window's batched decoding did, for the episode's quality signals."""

    speech_seconds: float  # VAD speech in the window
    chunks: int  # chunks decoded in the first pass
    redecoded: int  # chunks whose rest was decoded again


@dataclass
class _Chunk:
    start: float  # packed-audio seconds
    end: float
    segments: list[Any]

    @property
    def last_word_end(self) -> float:
        ends = [w.end for s in self.segments for w in (s.words or ())]
        return max(ends) if ends else self.start


def _speech_spans(samples: np.ndarray, chunk_seconds: float) -> list[dict[str, int]]:
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    # the bare pipeline's VAD options: spans of at most one chunk, split at pauses of 160 ms
    options = VadOptions(max_speech_duration_s=chunk_seconds, min_silence_duration_ms=160)
    return list(get_speech_timestamps(samples, options))


def _pack(spans: list[dict[str, int]], chunk_seconds: float) -> list[tuple[float, float]]:
    """Chunk bounds in packed seconds: whole spans, greedily, up to ``chunk_seconds`` each."""
    limit = int(chunk_seconds * SAMPLE_RATE)
    bounds: list[tuple[float, float]] = []
    start = length = 0
    for span in spans:
        size = span["end"] - span["start"]
        if length and length + size > limit:
            bounds.append((start / SAMPLE_RATE, (start + length) / SAMPLE_RATE))
            start, length = start + length, 0
        length += size
    if length:
        bounds.append((start / SAMPLE_RATE, (start + length) / SAMPLE_RATE))
    return bounds


def _seek(start: float) -> int:
    """The ``seek`` faster-whisper gives segments of a clip starting at ``start`` s (same rounding)."""
    return int(int(start * SAMPLE_RATE) / SAMPLE_RATE * _FRAMES_PER_SECOND)


def _decode(
    pipeline: Any, packed: np.ndarray, clips: list[tuple[float, float]], batch_size: int, options: dict[str, Any]
) -> tuple[list[list[Any]], str | None]:
    """Segments of each clip (packed time), decoded in batches, and the language used."""
    segments, info = pipeline.transcribe(
        packed,
        batch_size=batch_size,
        clip_timestamps=[{"start": a, "end": b} for a, b in clips],
        word_timestamps=True,
        **options,
    )
    seeks = [_seek(a) for a, _ in clips]
    out: list[list[Any]] = [[] for _ in clips]
    for segment in segments:  # in clip order; a clip that produced nothing yields no segment
        out[max(0, bisect.bisect_right(seeks, segment.seek) - 1)].append(segment)
    return out, info.language


def _decode_rests(
    pipeline: Any,
    packed: np.ndarray,
    rests: list[tuple[float, float]],
    batch_size: int,
    options: dict[str, Any],
    chunk_seconds: float,
) -> list[list[Any]]:
    """Segments of each rest (packed time), the rests packed together into chunks of up to
    ``chunk_seconds`` (0: each rest its own chunk).

    Why together: rests are seconds long, and each clip costs a full 30 s encoder pass; packed, a
    few rests cost one. Words go back to the rest their midpoint lies in.
    """
    sizes = [int(b * SAMPLE_RATE) - int(a * SAMPLE_RATE) for a, b in rests]
    starts = [sum(sizes[:k]) / SAMPLE_RATE for k in range(len(rests))]  # rest starts in ``joined``
    joined = np.concatenate([packed[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)] for a, b in rests])
    offsets = [0, *np.cumsum(sizes)]
    spans = [{"start": int(offsets[k]), "end": int(offsets[k + 1])} for k in range(len(rests))]
    results, _ = _decode(pipeline, joined, _pack(spans, chunk_seconds), batch_size, options)
    out: list[list[Any]] = [[] for _ in rests]
    for segment in (s for clip in results for s in clip if s.words):
        groups: dict[int, list[Any]] = {}
        for w in segment.words:
            k = max(0, bisect.bisect_right(starts, (w.start + w.end) / 2) - 1)
            shift = rests[k][0] - starts[k]
            groups.setdefault(k, []).append(replace(w, start=w.start + shift, end=w.end + shift))
        for k, words in groups.items():
            text = "".join(w.word for w in words)
            out[k].append(replace(segment, start=words[0].start, end=words[-1].end, text=text, words=words))
    return out


def transcribe_batched(
    pipeline: Any,
    samples: np.ndarray,
    *,
    language: str | None,
    batch_size: int,
    chunk_seconds: float = CHUNK_SECONDS,
    early_end_seconds: float = EARLY_END_SECONDS,
    max_rounds: int = MAX_ROUNDS,
) -> tuple[list[Any], str | None, BatchStats]:
    """faster-whisper segments of ``samples`` (window time), the language, and what was re-decoded."""
    from faster_whisper.transcribe import restore_speech_timestamps

    spans = _speech_spans(samples, chunk_seconds)
    if not spans:
        return [], language, BatchStats(0.0, 0, 0)
    packed = np.concatenate([samples[s["start"] : s["end"]] for s in spans])
    chunks = [_Chunk(a, b, []) for a, b in _pack(spans, chunk_seconds)]
    options: dict[str, Any] = {"language": language}
    results, detected = _decode(pipeline, packed, [(c.start, c.end) for c in chunks], batch_size, options)
    options["language"] = language or detected  # later rounds: the language of the first
    for chunk, segments in zip(chunks, results, strict=True):
        chunk.segments = segments
    redecoded: set[int] = set()
    alone: set[int] = set()  # rests that gave nothing packed with others: next round, on their own
    todo = list(range(len(chunks)))
    for _ in range(max_rounds - 1):
        todo = [i for i in todo if chunks[i].end - chunks[i].last_word_end > early_end_seconds]
        if not todo:
            break
        progressed = []
        for group, limit in (
            ([i for i in todo if i not in alone], chunk_seconds),
            ([i for i in todo if i in alone], 0.0),
        ):
            if not group:
                continue
            rests = [(chunks[i].last_word_end, chunks[i].end) for i in group]
            results = _decode_rests(pipeline, packed, rests, batch_size, options, limit)
            for i, segments in zip(group, results, strict=True):
                redecoded.add(i)
                kept = [s for s in segments if s.words]
                if kept:
                    chunks[i].segments.extend(kept)
                    progressed.append(i)
                elif limit and len(group) > 1:  # the model may have stopped before this rest
                    alone.add(i)
                    progressed.append(i)
                # else: a rest that yields nothing on its own has nothing more to give
        todo = progressed
    ordered = sorted((s for c in chunks for s in c.segments), key=lambda s: s.start)
    restored = list(restore_speech_timestamps(ordered, spans, SAMPLE_RATE))
    stats = BatchStats(packed.size / SAMPLE_RATE, len(chunks), len(redecoded))
    return restored, options["language"], stats


def split_sentences(item: ScoredSegment) -> list[ScoredSegment]:
    """``item`` cut after each inner sentence end, each piece with its own words and times.

    Words are matched to text pieces by their characters, so a segment whose words do not spell
    its text (no word timings) stays whole.
    """
    seg = item.segment
    cuts = _inner_cuts(seg.text)
    if not cuts or "".join(w.text for w in seg.words) != seg.text.replace(" ", ""):
        return [item]
    pieces: list[ScoredSegment] = []
    words = list(seg.words)
    for text in (seg.text[a:b].strip() for a, b in zip([0, *cuts], [*cuts, len(seg.text)], strict=True)):
        need, taken = len(text.replace(" ", "")), []
        while words and need > 0:
            taken.append(words.pop(0))
            need -= len(taken[-1].text)
        if not taken or need != 0:  # a word across a cut: leave the segment as it came
            return [item]
        piece = Segment(taken[0].start, taken[-1].end, text, seg.speaker, tuple(taken))
        pieces.append(replace(item, segment=piece))
    return pieces
