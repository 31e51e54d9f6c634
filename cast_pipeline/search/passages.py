"""Long phrases split into passages of a few sentences, the unit the search index holds and a hit points at.

Why: ``merge_phrases`` keeps a publisher's paragraph whole, and HTML transcripts often have one
paragraph per speaker turn, several minutes and up to 3,000+ characters long. Indexed as one row, such a
paragraph gets one pooled vector (a question about one sentence deep inside it is diluted by everything
else it says, and misses) and one full-text document (a hit then points at the paragraph's start,
minutes before the sentence). Split into passages of one to three sentences, each gets its own vector and
full-text row and its own start time, so a hit points at the sentence.

Rules (plain functions, no model, no Dagster):

- A phrase of at most ``max_chars`` characters stays one passage, text and times unchanged (almost every
  merged phrase: ``merge_phrases`` aims at 200 characters).
- A longer phrase is cut into sentences (after ``.``, ``?``, ``!``, ``…``, possibly followed by closing
  quotes or brackets, then white space and a word not starting in lower case, and not after ``Dr.`` and
  similar abbreviations). Sentences are joined greedily into passages of at most ``max_sentences``
  sentences and ``target_chars`` characters; a single sentence longer than ``max_chars`` (speech without
  punctuation) is cut at word boundaries into pieces of about ``target_chars``.
- A passage's text is a slice of the phrase's text (stripped), so passages concatenate back to it.
- Times: from the phrase's word timings when it has exactly one per word, otherwise interpolated by
  character position within the phrase (an estimate, but always inside the phrase's span).

``segment_index`` stays the phrase's position in the transcript (what the reader anchors to) and
``passage_index`` numbers the passages inside it from 0.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cast_pipeline.segments import Segment

MAX_CHARS = 400  # phrases up to this length are one passage
TARGET_CHARS = 300  # passages grow up to this length...
MAX_SENTENCES = 3  # ...and this many sentences

_SENTENCE_END = re.compile(r"[.?!…][\"'”’»)\]]*\s+(?=\S)")
_ABBREVIATIONS = frozenset(["mr.", "mrs.", "ms.", "dr.", "prof.", "st.", "vs.", "jr.", "sr.", "e.g.", "i.e."])


@dataclass(frozen=True, slots=True)
class Passage:
    segment_index: int  # the phrase's position in the transcript
    passage_index: int  # position inside the phrase, from 0
    start: float
    end: float
    text: str
    speaker: str | None = None


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` character spans of the sentences of ``text``, covering it without gaps."""
    cuts = []
    for match in _SENTENCE_END.finditer(text):
        if text[match.end()].islower():
            continue
        word_start = text.rfind(" ", 0, match.start()) + 1
        if text[word_start : match.start() + 1].lower() in _ABBREVIATIONS:
            continue
        cuts.append(match.end())
    bounds = [0, *cuts, len(text)]
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def _word_spans(text: str, start: int, end: int, size: int) -> list[tuple[int, int]]:
    """``text[start:end]`` cut at spaces into pieces of about ``size`` characters (a word is never cut)."""
    spans = []
    while end - start > size:
        cut = text.rfind(" ", start + 1, start + size + 1)
        if cut <= start:
            cut = text.find(" ", start + size)
            if cut == -1:
                break
        spans.append((start, cut + 1))
        start = cut + 1
    spans.append((start, end))
    return spans


def passage_spans(
    text: str, *, max_chars: int = MAX_CHARS, target_chars: int = TARGET_CHARS, max_sentences: int = MAX_SENTENCES
) -> list[tuple[int, int]]:
    """Character spans of the passages of one phrase's ``text`` (one span when it is short)."""
    if not 0 < target_chars <= max_chars or max_sentences < 1:
        raise ValueError(f"need 0 < target_chars <= max_chars and max_sentences >= 1, got {target_chars=}, "
                         f"{max_chars=}, {max_sentences=}")  # fmt: skip
    if len(text) <= max_chars:
        return [(0, len(text))]
    pieces: list[tuple[int, int]] = []
    for a, b in sentence_spans(text):
        pieces += _word_spans(text, a, b, target_chars) if b - a > max_chars else [(a, b)]
    spans: list[tuple[int, int]] = []
    count = 0
    for a, b in pieces:
        if spans and count < max_sentences and b - spans[-1][0] <= target_chars:
            spans[-1] = (spans[-1][0], b)
            count += 1
        else:
            spans.append((a, b))
            count = 1
    return spans


def _times(segment: Segment, text: str, spans: list[tuple[int, int]]) -> list[tuple[float, float]]:
    words = segment.words
    if words and len(words) == len(text.split()):
        out, used = [], 0
        for a, b in spans:
            mine = words[used : used + len(text[a:b].split())]
            used += len(mine)
            out.append((mine[0].start, max(mine[0].start, mine[-1].end)) if mine else (segment.start, segment.start))
        return out
    scale = segment.duration / max(1, len(text))
    return [(round(segment.start + a * scale, 3), round(segment.start + b * scale, 3)) for a, b in spans]


def split_phrase(index: int, segment: Segment, **limits: int) -> list[Passage]:
    """The passages of phrase number ``index`` (none when its text is blank)."""
    text = segment.text.strip()
    if not text:
        return []
    spans = passage_spans(text, **limits)
    if len(spans) == 1:
        return [Passage(index, 0, segment.start, segment.end, segment.text, segment.speaker)]
    return [
        Passage(index, i, start, end, text[a:b].strip(), segment.speaker)
        for i, ((a, b), (start, end)) in enumerate(zip(spans, _times(segment, text, spans), strict=True))
    ]


def split_passages(segments: Sequence[Segment], **limits: int) -> list[Passage]:
    """Every non-blank phrase's passages, in transcript order."""
    return [p for i, s in enumerate(segments) for p in split_phrase(i, s, **limits)]
