"""Plain-text transcripts to segments: one segment per paragraph, times only when written.

Decisions, because plain text has no structure to rely on:

- Paragraphs are separated by blank lines; a file without any blank line is taken as one
  utterance per line (line-per-speaker exports). Line breaks inside a paragraph become spaces.
- Times are unknown unless a paragraph starts with one, so untimed text gets ``0.0`` (or the last
  time seen, which keeps segments in order). Recognised time marks, from publishers' exports:
  ``[00:01:02] Sarah: text``, ``00:01:02 text``, ``(1:02) text``, and a first line
  ``Sarah  0:53`` / ``Sarah (0:53)`` above the paragraph's text (Otter-style). A time mark needs
  a colon, so a paragraph starting with ``1984`` is text.
- A segment ends where the next one starts; the last ends at its own start, because nothing says
  how long it lasts. ``duration == 0`` therefore means "unknown", not "instant".
- ``Name: text`` gives a speaker under the rule of :mod:`.cuetext`, carried to later paragraphs
  until another speaker is named.
"""

from __future__ import annotations

import re

from cast_pipeline.segments import Segment
from cast_pipeline.transcripts.cuetext import collapse, is_name_like, split_speaker_prefix
from cast_pipeline.transcripts.errors import TranscriptParseError
from cast_pipeline.transcripts.timecode import parse_timestamp

_CLOCK = r"(?:\d+:)?\d{1,2}:\d{2}(?:[.,]\d+)?"
_PARAGRAPH_BREAK_RE = re.compile(r"\n[ \t]*\n\s*")
_LEADING_TIME_RE = re.compile(rf"(?:\[({_CLOCK})\]|\(({_CLOCK})\)|({_CLOCK})(?=\s))\s*(?:[-–—|]\s+)?")
_NAME_TIME_LINE_RE = re.compile(rf"([^\n]{{2,40}}?)[ \t]*(?:\(({_CLOCK})\)|[-–—]?[ \t]*({_CLOCK}))[ \t]*(?:\n|$)")


def segments_from_starts(rows: list[tuple[float, str, str | None]]) -> list[Segment]:
    """Segments from ``(start, text, speaker)`` rows whose end is the next row's start."""
    segments = []
    for index, (start, text, speaker) in enumerate(rows):
        following = rows[index + 1][0] if index + 1 < len(rows) else start
        segments.append(Segment(start, max(start, following), text, speaker))
    return segments


def _paragraphs(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    paragraphs = _PARAGRAPH_BREAK_RE.split(text)
    if len(paragraphs) == 1:
        paragraphs = text.split("\n")
    return paragraphs


def parse_text(text: str, source: str) -> list[Segment]:
    """Segments of a plain-text transcript (see the module docstring for the rules)."""
    rows: list[tuple[float, str, str | None]] = []
    start = 0.0
    speaker: str | None = None
    for paragraph in _paragraphs(text):
        named: str | None = None
        head = _NAME_TIME_LINE_RE.match(paragraph)
        if head and is_name_like(head.group(1).strip()):
            named = head.group(1).strip()
            start = parse_timestamp(head.group(2) or head.group(3)) or 0.0
            paragraph = paragraph[head.end() :]
        else:
            mark = _LEADING_TIME_RE.match(paragraph)
            if mark:
                start = parse_timestamp(mark.group(1) or mark.group(2) or mark.group(3)) or 0.0
                paragraph = paragraph[mark.end() :]
        body = collapse(paragraph)
        if named is None:
            named, body = split_speaker_prefix(body)
        if named is not None:
            speaker = named
        if body:
            rows.append((start, body, speaker))
    if not rows:
        raise TranscriptParseError(source, "the text transcript contains no words")
    return segments_from_starts(rows)
