"""Hallucination guards: drop the known failure modes of Whisper-style decoders before they are stored.

Why: on music, silence and noise, Whisper models emit fluent text that was never said ("Thank you
for watching", one phrase looped for minutes). Such text pollutes search far more than a gap does,
so suspicious segments are dropped. The thresholds are deliberately conservative (real speech
should never trip them) and documented here because every backend shares them:

- ``compression_ratio > 2.8``: zlib ratio of the segment's own text. Whisper itself retries a window
  at a higher temperature above 2.4; a segment still above 2.8 is a repetition loop (ordinary
  sentences compress to 0.8-1.8). The decoders' own figure is not used: faster-whisper reports one
  ratio per 30 s window, so a loop in one segment would drop its good neighbours too, and a window
  that really repeats itself (a jingle, a quoted line) would vanish whole.
- a single 1-4 word phrase repeated back to back at least 4 times, covering at least half of a
  segment of at least 12 words ("the the the the ...", "I'm sorry. I'm sorry. ..."). Short real
  repetitions ("no, no, no") have fewer words and survive.
- ``no_speech_prob > 0.6`` together with ``avg_logprob < -1.0``: Whisper's own rule for "this
  window is silence"; batched decoding does not apply it, so it is applied here.
- the same text in 3 or more consecutive segments: kept once (the first occurrence).

Repetition is not proof of a loop: people repeat themselves, quote, read a line twice, and batched
decoding puts 30 s of speech in one segment, where a sentence said twice or three times compresses
like a loop. So the three repetition rules (compression, n-gram, verbatim run) spare text that the
audio backs: word timings that fill their time like speech (at most 6 words a second, few words
squeezed under 40 ms) and, for a verbatim run, copies of similar length (longest at most twice the
shortest). A decoder loop fails this: its surplus words have no audio of their own, so the aligner
squeezes them into near-zero durations, or stretches one phrase over seconds of non-speech.
Segments without word timings cannot show this and are judged by the text rules alone.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from cast_pipeline.segments import Segment


@dataclass(frozen=True)
class GuardThresholds:
    max_compression_ratio: float = 2.8
    ngram_max: int = 4
    min_repeats: int = 4
    min_repeat_coverage: float = 0.5
    min_words_for_repeat_check: int = 12
    no_speech_prob: float = 0.6
    low_avg_logprob: float = -1.0
    max_verbatim_run: int = 2  # a third identical segment in a row (and more) is dropped
    max_words_per_second: float = 6.0  # faster than anyone speaks: words without audio of their own
    min_word_seconds: float = 0.04  # a word aligned to less than this was squeezed in
    max_squeezed_share: float = 0.25
    max_copy_length_ratio: float = 2.0  # a verbatim run's longest copy over its shortest


@dataclass(frozen=True)
class ScoredSegment:
    """A segment with the decoder's confidence figures (None when a backend does not report them)."""

    segment: Segment
    no_speech_prob: float | None = None
    avg_logprob: float | None = None


@dataclass(frozen=True)
class RemovedText:
    """One removed segment: why, where (episode seconds) and what, for the episode's metadata."""

    reason: str  # compression, repetition, silence or verbatim
    start: float
    end: float
    text: str

    def to_dict(self) -> dict[str, object]:
        return {"reason": self.reason, "start": round(self.start, 2), "end": round(self.end, 2), "text": self.text}


@dataclass
class GuardReport:
    """What the guards removed, by reason, so runs can log and count it."""

    compression: int = 0
    repetition: int = 0
    silence: int = 0
    verbatim: int = 0
    removed: list[RemovedText] = field(default_factory=list)

    def remove(self, reason: str, segment: Segment) -> None:
        setattr(self, reason, getattr(self, reason) + 1)
        self.removed.append(RemovedText(reason, segment.start, segment.end, segment.text))

    @property
    def total(self) -> int:
        return self.compression + self.repetition + self.silence + self.verbatim


_WORD = re.compile(r"[\w']+")


def compression_ratio(text: str) -> float:
    """Length of the UTF-8 text over its zlib-compressed length (as Whisper computes it)."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def longest_repeat(words: list[str], ngram_max: int) -> tuple[int, int]:
    """(repeats, words covered) of the longest back-to-back repetition of one 1..ngram_max-gram."""
    best = (1, 0)
    for n in range(1, ngram_max + 1):
        i = 0
        while i + n <= len(words):
            gram = words[i : i + n]
            repeats = 1
            while words[i + repeats * n : i + (repeats + 1) * n] == gram:
                repeats += 1
            if repeats > 1 and repeats * n > best[1]:
                best = (repeats, repeats * n)
            i += max(1, (repeats - 1) * n) if repeats > 1 else 1
    return best


def _is_repetitive(text: str, t: GuardThresholds) -> bool:
    words = _words(text)
    if len(words) < t.min_words_for_repeat_check:
        return False
    repeats, covered = longest_repeat(words, t.ngram_max)
    return repeats >= t.min_repeats and covered >= t.min_repeat_coverage * len(words)


def _norm(text: str) -> str:
    return " ".join(_words(text))


def spoken(segment: Segment, t: GuardThresholds = GuardThresholds()) -> bool:
    """Whether the segment's word timings fill its time like speech (see the module docstring)."""
    words = segment.words
    if len(words) < 2:
        return False  # no timings: no evidence either way
    span = words[-1].end - words[0].start
    if span <= 0 or len(words) / span > t.max_words_per_second:
        return False
    squeezed = sum(1 for w in words if w.end - w.start < t.min_word_seconds)
    return squeezed <= t.max_squeezed_share * len(words)


def _spoken_copies(run: list[Segment], t: GuardThresholds) -> bool:
    """A verbatim run whose every copy is spoken and about as long as the others."""
    if not all(spoken(s, t) for s in run):
        return False
    lengths = [s.words[-1].end - s.words[0].start for s in run]
    return max(lengths) <= t.max_copy_length_ratio * min(lengths)


def apply_guards(
    items: Iterable[ScoredSegment], thresholds: GuardThresholds = GuardThresholds()
) -> tuple[list[Segment], GuardReport]:
    """Segments that pass every guard, in order, and a report of what was dropped."""
    t = thresholds
    report = GuardReport()
    passed: list[Segment] = []
    for item in items:
        seg = item.segment
        if not _words(seg.text):  # empty or punctuation only ("." over noise): nothing to search
            continue
        if compression_ratio(seg.text) > t.max_compression_ratio and not spoken(seg, t):
            report.remove("compression", seg)
        elif _is_repetitive(seg.text, t) and not spoken(seg, t):
            report.remove("repetition", seg)
        elif (
            item.no_speech_prob is not None
            and item.avg_logprob is not None
            and item.no_speech_prob > t.no_speech_prob
            and item.avg_logprob < t.low_avg_logprob
        ):
            report.remove("silence", seg)
        else:
            passed.append(seg)
    kept: list[Segment] = []
    i = 0
    while i < len(passed):  # runs of verbatim-identical segments: a loop keeps only its first
        norm = _norm(passed[i].text)
        j = i + 1
        while j < len(passed) and _norm(passed[j].text) == norm:
            j += 1
        run = passed[i:j]
        if len(run) > t.max_verbatim_run and not _spoken_copies(run, t):
            kept.append(run[0])
            for seg in run[1:]:
                report.remove("verbatim", seg)
        else:
            kept.extend(run)
        i = j
    return kept, report
