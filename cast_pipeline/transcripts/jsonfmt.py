"""Podcasting 2.0 JSON transcripts (and our own / Whisper-style segment JSON) to segments.

The podcast-namespace format is ``{"version": "1.0.0", "segments": [{"speaker", "startTime",
"endTime", "body"}]}``. What real files do, and what we do about it:

- times are numbers or strings (``"1.5"``, ``"00:01:02.500"``); a missing ``endTime`` ("if
  available" in the spec) becomes the next segment's start, or the segment's own start for the last
  one or when the next starts earlier; an end before the start is raised to the start;
- a top-level list of segments is accepted as well as the ``segments`` object;
- ``start``/``end``/``text`` keys (our :func:`cast_pipeline.segments.segments_to_json` output and
  Whisper's) are read too, including their ``words`` lists, so rendered JSON parses back;
- bodies have whitespace collapsed (``"father.\\n"`` -> ``"father."``); segments whose body is
  empty are dropped; an empty speaker is ``None``.

Word-per-segment files stay word-per-segment here: :func:`cast_pipeline.transcripts.merge_phrases`
turns them into phrases, so parsing stays a faithful reading of the file.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from cast_pipeline.segments import Segment, Word
from cast_pipeline.transcripts.errors import TranscriptParseError
from cast_pipeline.transcripts.timecode import parse_timestamp

_START_KEYS = ("startTime", "start")
_END_KEYS = ("endTime", "end")
_TEXT_KEYS = ("body", "text", "word")
_INF = float("inf")


def _first(item: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = item.get(key)
        if value is not None:
            return value
    return None


def _seconds(value: Any, source: str, index: int, field: str) -> float | None:
    """Seconds of a JSON time value; errors name ``segment <index> <field>``."""
    kind = type(value)
    if kind is float and 0 <= value < _INF:  # the usual case; NaN fails the comparison
        return round(value, 3)
    if kind is int and value >= 0:
        return float(value)
    if value is None or value == "":
        return None
    seconds = parse_timestamp(value) if kind is str else None
    if seconds is None:
        raise TranscriptParseError(
            source, f"segment {index} {field} is {value!r}, not a time in seconds or HH:MM:SS.mmm"
        )
    return seconds


def _words(raw: Any, index: int, source: str) -> tuple[Word, ...]:
    if not isinstance(raw, list):
        return ()
    words = []
    for number, word in enumerate(raw):
        if not isinstance(word, dict):
            raise TranscriptParseError(source, f"segment {index} word {number} is not an object")
        start = _seconds(_first(word, _START_KEYS), source, index, f"word {number} start") or 0.0
        end = _seconds(_first(word, _END_KEYS), source, index, f"word {number} end")
        text = _first(word, _TEXT_KEYS)
        words.append(
            Word(start, start if end is None or end < start else end, str(text or ""), word.get("probability"))
        )
    return tuple(words)


def _items(text: str, source: str) -> list[Any]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TranscriptParseError(source, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    items = doc.get("segments") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise TranscriptParseError(
            source, "JSON has no 'segments' list (expected a Podcasting 2.0 transcript: {'segments': [...]})"
        )
    return items


def parse_json(text: str, source: str) -> list[Segment]:
    """Segments of a JSON transcript; errors name the segment index and the bad value."""
    items = _items(text, source)
    starts: list[float] = []
    segments: list[Segment] = []
    open_ends: list[tuple[int, int]] = []  # (segment position, item index) of segments without an end
    speakers: dict[Any, str | None] = {None: None}  # each distinct speaker value is normalised once
    for index, item in enumerate(items):
        if type(item) is not dict:
            raise TranscriptParseError(source, f"segment {index} is {type(item).__name__}, not an object")
        start = _seconds(_first(item, _START_KEYS), source, index, "startTime")
        if start is None:
            raise TranscriptParseError(source, f"segment {index} has no startTime")
        starts.append(start)
        end = _seconds(_first(item, _END_KEYS), source, index, "endTime")
        body = _first(item, _TEXT_KEYS)
        body = " ".join((body if type(body) is str else "" if body is None else str(body)).split())
        if not body:
            continue
        raw_speaker = item.get("speaker")
        if raw_speaker is not None and type(raw_speaker) is not str:
            raw_speaker = str(raw_speaker)  # numbers, and lists or objects that could not be dict keys
        if raw_speaker not in speakers:
            speakers[raw_speaker] = " ".join(str(raw_speaker).split()) or None
        words = _words(item["words"], index, source) if "words" in item else ()
        if end is None:
            open_ends.append((len(segments), index))
            end = start
        segments.append(Segment(start, end if end > start else start, body, speakers[raw_speaker], words))
    for position, index in open_ends:  # a missing end is the next segment's start (never before its own)
        segment = segments[position]
        following = starts[index + 1] if index + 1 < len(starts) else segment.start
        segments[position] = replace(segment, end=max(segment.start, following))
    if not segments:
        raise TranscriptParseError(
            source, f"JSON transcript has no segments with text ({len(items)} segments in total)"
        )
    return segments
