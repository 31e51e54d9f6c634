"""Give a transcript's segments the speakers of diarization turns, word by word.

Why words: a speech model's segment often runs across a change of speaker ("...right? — Yes, and"),
so a segment is cut where its words change speaker and each piece gets its own. A word belongs to the
turn holding its midpoint, else to the nearest turn (a word in a gap between turns, or just outside
them: turns from pyannote or NeMo never match a speech model's words exactly). A segment without word
timings goes whole to the turn that overlaps it most. The phrase merger (cast_pipeline.transcripts.merge)
then never joins two speakers into one phrase.

Labels end up ``Speaker 1``, ``Speaker 2``... in order of first appearance *in the transcript*. When
a feed names its hosts (``speakers: [Alice, Bob]`` in feeds.yaml, applied only when asked), the most
talkative speakers get the names, given in order of first appearance.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import replace

from cast_pipeline.segments import Segment, Word
from cast_pipeline.speakers.model import Turn


class _Lookup:
    def __init__(self, turns: Sequence[Turn]) -> None:
        self.turns = sorted(turns, key=lambda t: (t.start, t.end))
        self.starts = [t.start for t in self.turns]

    def at(self, t: float) -> str:
        i = bisect.bisect_right(self.starts, t) - 1
        best: tuple[float, str] | None = None
        for j in (i - 1, i, i + 1):  # turns can overlap (pyannote): look at the neighbours too
            if 0 <= j < len(self.turns):
                turn = self.turns[j]
                distance = 0.0 if turn.start <= t <= turn.end else min(abs(turn.start - t), abs(turn.end - t))
                if best is None or distance < best[0]:
                    best = (distance, turn.speaker)
        assert best is not None
        return best[1]

    def most_overlap(self, start: float, end: float) -> str:
        overlap: dict[str, float] = {}
        for turn in self.turns:
            if turn.end > start and turn.start < end:
                overlap[turn.speaker] = overlap.get(turn.speaker, 0.0) + min(end, turn.end) - max(start, turn.start)
        return max(overlap, key=overlap.__getitem__) if overlap else self.at((start + end) / 2)


def _join(words: Sequence[Word]) -> str:
    return " ".join(w.text.strip() for w in words)


def _split(segment: Segment, lookup: _Lookup) -> list[Segment]:
    if not segment.words:
        return [replace(segment, speaker=lookup.most_overlap(segment.start, segment.end))]
    speakers = [lookup.at((w.start + w.end) / 2) for w in segment.words]
    if len(set(speakers)) == 1:
        return [replace(segment, speaker=speakers[0])]
    pieces: list[Segment] = []
    run: list[Word] = []
    for index, (word, speaker) in enumerate(zip(segment.words, speakers, strict=True)):
        run.append(word)
        if index + 1 == len(speakers) or speakers[index + 1] != speaker:
            first = not pieces
            last = index + 1 == len(speakers)
            start = segment.start if first else run[0].start
            end = segment.end if last else run[-1].end
            pieces.append(Segment(start, max(start, end), _join(run), speaker, tuple(run)))
            run = []
    return pieces


def renumber(segments: Sequence[Segment]) -> list[Segment]:
    """Speakers relabelled ``Speaker 1``, ``Speaker 2``... in order of first appearance."""
    names: dict[str, str] = {}
    for s in segments:
        if s.speaker is not None and s.speaker not in names:
            names[s.speaker] = f"Speaker {len(names) + 1}"
    return [replace(s, speaker=names[s.speaker]) if s.speaker is not None else s for s in segments]


def assign_speakers(segments: Sequence[Segment], turns: Sequence[Turn]) -> list[Segment]:
    """``segments`` cut at speaker changes and labelled from ``turns`` (see the module docstring)."""
    if not turns:
        return list(segments)
    lookup = _Lookup(turns)
    out: list[Segment] = []
    for segment in segments:
        out += _split(segment, lookup)
    return renumber(out)


def apply_names(segments: Sequence[Segment], names: Sequence[str]) -> list[Segment]:
    """The ``len(names)`` most talkative speakers renamed, in order of first appearance; others keep labels."""
    talk: dict[str, float] = {}
    for s in segments:
        if s.speaker is not None:
            talk[s.speaker] = talk.get(s.speaker, 0.0) + s.duration
    ranked = sorted(talk, key=lambda k: -talk[k])[: len(names)]
    chosen = [k for k in dict.fromkeys(s.speaker for s in segments) if k in ranked]
    mapping = dict(zip(chosen, names, strict=False))
    return [replace(s, speaker=mapping.get(s.speaker, s.speaker)) for s in segments]
