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
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class ScoredSegment:
    """A segment with the decoder's confidence figures (None when a backend does not report them)."""

    segment: Segment
    no_speech_prob: float | None = None
    avg_logprob: float | None = None


@dataclass
class GuardReport:
    """What the guards removed, by reason, so runs can log and count it."""

    compression: int = 0
    repetition: int = 0
    silence: int = 0
    verbatim: int = 0

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
        if compression_ratio(seg.text) > t.max_compression_ratio:
            report.compression += 1
        elif _is_repetitive(seg.text, t):
            report.repetition += 1
        elif (
            item.no_speech_prob is not None
            and item.avg_logprob is not None
            and item.no_speech_prob > t.no_speech_prob
            and item.avg_logprob < t.low_avg_logprob
        ):
            report.silence += 1
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
        if len(run) > t.max_verbatim_run:
            kept.append(run[0])
            report.verbatim += len(run) - 1
        else:
            kept.extend(run)
        i = j
    return kept, report
