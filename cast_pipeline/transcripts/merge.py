"""Merge word-level or fragmentary segments into readable phrases.

Why: speech models and some publishers (word-per-segment JSON, 32-character SRT cards) give pieces
too small to read, embed or search well. A phrase is what a reader would call one line of a
transcript: usually a sentence or two, never more than about ``max_chars``.

Rules, applied while walking the segments in order (a break closes the current phrase):

1. Speaker change: always a break, even mid-sentence (a phrase has one speaker).
2. Pause: a gap of more than ``max_pause`` seconds between the phrase's end and the next segment's
   start is a break. Overlapping or out-of-order times give a negative gap, never a break.
3. Length: a break comes before a segment whose text would take the phrase over ``max_chars``.
   Breaks only fall between segments or at the sentence ends of rule 5, so a word is never split,
   and a segment already longer than ``max_chars`` stays whole, on its own.
4. Sentence end: once the phrase has at least ``min_chars`` characters and ends with ``.``, ``?``,
   ``!`` or ``…`` (possibly followed by closing quotes or brackets, as in ``."`` or ``?)``), the
   next segment starts a new phrase. A few abbreviations (``Dr.``, ``Mr.``, ``e.g.``...) are not
   sentence ends.
5. Sentence ends inside a segment: caption cues are cut for display, so most sentences end in the
   middle of one ("...all the | mistakes. So in this..."). A segment shorter than ``max_chars`` is
   therefore first divided after each inner sentence end that is followed by a word not starting
   in lower case (so ``a.m. and`` or ``3.5`` stay whole) and not after an abbreviation; the pieces
   then go through rules 1-4 like any segment, so short sentences join again. A piece's times come
   from the segment's word timings when it has one per word, otherwise from the segment's time span
   divided in proportion to characters: an estimate, but only ever inside one segment. A segment
   of ``max_chars`` or more is never divided.

Joining: pieces are stripped and joined with one space, except that punctuation and contraction
pieces attach to the previous word (``"word" + ","`` is ``"word,"``, ``"don" + "'t"`` and
``"do" + "n't"`` are ``"don't"``), and nothing follows an opening bracket or quote with a space.
Segments with empty text are dropped. A phrase runs from its earliest start to its latest end,
keeps its pieces' speaker, and concatenates their ``words`` in order. Words are never dropped or
reordered: joining the phrases' texts gives the input's words in the same order.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

from cast_pipeline.segments import Segment, Word

_SENTENCE_END_RE = re.compile(r"[.?!…][\"'”’»)\]]*$")
_INNER_END_RE = re.compile(r"[.?!…][\"'”’»)\]]*\s+(?=\S)")
_ATTACHES_RE = re.compile(r"[,.;:!?%)\]}…]|['’](?:t|s|re|ve|ll|d|m)\b|n['’]t\b", re.IGNORECASE)
_OPENERS = frozenset("([{“‘«¿¡")
_ABBREVIATIONS = frozenset(["mr.", "mrs.", "ms.", "dr.", "prof.", "st.", "vs.", "jr.", "sr.", "e.g.", "i.e."])


def _attaches(piece: str) -> bool:
    return _ATTACHES_RE.match(piece) is not None


def _ends_sentence(text: str) -> bool:
    if _SENTENCE_END_RE.search(text[-4:]) is None:
        return False
    last_word = text[text.rfind(" ") + 1 :].lower()
    return last_word not in _ABBREVIATIONS


def _inner_cuts(text: str) -> list[int]:
    """Offsets where a new sentence starts inside ``text`` (rule 5)."""
    cuts = []
    for match in _INNER_END_RE.finditer(text):
        if text[match.end()].islower():
            continue
        word_start = text.rfind(" ", 0, match.start()) + 1
        if text[word_start : match.start() + 1].lower() not in _ABBREVIATIONS:
            cuts.append(match.end())
    return cuts


def _sentence_pieces(segment: Segment, text: str, max_chars: int) -> list[tuple[Segment, str]]:
    """``segment`` divided at inner sentence ends (rule 5), as ``(piece, stripped text)`` pairs."""
    cuts = _inner_cuts(text) if len(text) < max_chars and _INNER_END_RE.search(text) else []
    if not cuts:
        return [(segment, text)]
    bounds = [0, *cuts, len(text)]
    spans = list(itertools.pairwise(bounds))
    texts = [text[a:b].strip() for a, b in spans]
    words = segment.words
    if words and len(words) == len(text.split()):
        pieces, used = [], 0
        for index, piece_text in enumerate(texts):
            count = len(piece_text.split())
            mine = words[used : used + count]
            used += count
            start = segment.start if index == 0 else mine[0].start
            end = segment.end if index == len(texts) - 1 else mine[-1].end
            pieces.append((Segment(start, max(start, end), piece_text, segment.speaker, mine), piece_text))
        return pieces
    scale = segment.duration / len(text)
    return [
        (Segment(round(segment.start + a * scale, 3), round(segment.start + b * scale, 3), t, segment.speaker), t)
        for (a, b), t in zip(spans, texts, strict=True)
    ]


class _Phrase:
    """The phrase being built: pieces are joined once, when it is closed (linear time)."""

    __slots__ = ("end", "length", "parts", "speaker", "start", "words")

    def __init__(self, segment: Segment, text: str) -> None:
        self.start = segment.start
        self.end = segment.end
        self.speaker = segment.speaker
        self.parts = [text]
        self.length = len(text)
        self.words: list[Word] = list(segment.words)

    def joined_length(self, text: str) -> int:
        gap = 0 if _attaches(text) or self.parts[-1][-1] in _OPENERS else 1
        return self.length + gap + len(text)

    def add(self, segment: Segment, text: str) -> None:
        new_length = self.joined_length(text)
        if new_length > self.length + len(text):
            self.parts.append(" ")
        self.parts.append(text)
        self.length = new_length
        self.start = min(self.start, segment.start)
        self.end = max(self.end, segment.end)
        self.words.extend(segment.words)

    def segment(self) -> Segment:
        return Segment(self.start, self.end, "".join(self.parts), self.speaker, tuple(self.words))


def merge_phrases(
    segments: Sequence[Segment],
    *,
    min_chars: int = 40,
    max_chars: int = 200,
    max_pause: float = 1.5,
) -> list[Segment]:
    """Phrases from ``segments`` following the rules in the module docstring."""
    if min_chars < 0 or max_chars < 1 or min_chars > max_chars:
        raise ValueError(f"need 0 <= min_chars <= max_chars and max_chars >= 1, got {min_chars=}, {max_chars=}")
    if max_pause < 0:
        raise ValueError(f"max_pause must be >= 0 seconds, got {max_pause}")
    phrases: list[Segment] = []
    current: _Phrase | None = None
    for whole in segments:
        stripped = whole.text.strip()
        if not stripped:
            continue
        for segment, text in _sentence_pieces(whole, stripped, max_chars):
            if current is not None and (
                segment.speaker != current.speaker
                or segment.start - current.end > max_pause
                or current.joined_length(text) > max_chars
                or (current.length >= min_chars and _ends_sentence(current.parts[-1]))
            ):
                phrases.append(current.segment())
                current = None
            if current is None:
                current = _Phrase(segment, text)
            else:
                current.add(segment, text)
    if current is not None:
        phrases.append(current.segment())
    return phrases
