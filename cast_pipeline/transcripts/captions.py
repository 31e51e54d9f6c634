"""WebVTT and SubRip (SRT) captions to segments, with one tolerant reader for both.

Why one reader: real files mix the two (VTT with comma milliseconds, SRT with ``<v>`` tags or a
``WEBVTT`` header, either without cue numbers), and a block of "timing line plus text lines" is the
same thing in both. What it accepts:

- timing lines ``start --> end [cue settings]`` with any timestamp of :mod:`.timecode` (hours
  optional, ``.`` or ``,`` milliseconds, bare seconds ``0.860 --> 7.380``); cue settings ignored;
- VTT ``WEBVTT`` header, ``NOTE``, ``STYLE`` and ``REGION`` blocks (skipped), cue identifiers and
  SRT cue numbers (ignored);
- missing blank lines between cues: a timing line always starts a new cue, and when the previous
  cue's last text line is a bare number it was the next cue's SRT number, not text;
- LF, CRLF or CR line ends; text lines of a cue joined with a space (see :mod:`.cuetext` for tags,
  entities and speakers).

Speakers carry forward: the podcast-namespace specs give a ``<v Name>`` or ``Name:`` only "when the
speaker changes", so a cue without one belongs to the last named speaker. A cue with two voices
becomes two segments with the cue's times. An end time before the start is raised to the start.
A line with ``-->`` that does not parse as timing is cue text inside a cue (SRT text may contain
arrows) and otherwise a broken timing line, skipped with its cue; if no cue parses at all the error
quotes the first broken timing line.

Cost: one compiled regex finds every cue (timing line plus text lines) in C; Python runs once per
cue, not per line. Linear in the input.
"""

from __future__ import annotations

import re

from cast_pipeline.segments import Segment
from cast_pipeline.transcripts.cuetext import split_speaker_prefix, voice_spans
from cast_pipeline.transcripts.errors import TranscriptParseError
from cast_pipeline.transcripts.timecode import timestamp_from_match

_TS = r"(?:(?:(\d+):)?(\d+):)?(\d+)(?:[.,](\d+))?"
_TIMING_LINE = rf"[ \t]*{_TS}[ \t]*-->[ \t]*{_TS}(?:[ \t][^\n]*)?"
_TIMING_RE = re.compile(_TIMING_LINE)
_LOOKS_LIKE_TIMING = r"[ \t]*[\d:.,]+[ \t]*-->"
_LOOKS_LIKE_TIMING_RE = re.compile(_LOOKS_LIKE_TIMING)
# A cue: a timing line, then its text lines up to a blank line, the next timing line or the end.
# Everything between cues (header, NOTE / STYLE / REGION blocks, cue ids, broken cues) is never
# matched, so it is skipped without a Python-level loop over lines.
_CUE_RE = re.compile(
    rf"^{_TIMING_LINE}(?:\n|\Z)((?:(?!{_LOOKS_LIKE_TIMING})[^\n]*\S[^\n]*(?:\n|\Z))*)",
    re.MULTILINE,
)


def _drop_next_cue_number(body: str, text: str, end: int) -> str:
    """``body`` without its last line when that is a bare number directly followed by a timing line:
    the next cue's SRT number, written without a blank line before it."""
    cut = body.rfind("\n")
    if body[cut + 1 :].strip().isdigit() and _LOOKS_LIKE_TIMING_RE.match(text, end):
        return body[:cut] if cut >= 0 else ""
    return body


def parse_captions(text: str, source: str, fmt: str = "vtt") -> list[Segment]:
    """Segments of a VTT or SRT document (``fmt`` only names the format in errors)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    segments: list[Segment] = []
    speaker: str | None = None
    for match in _CUE_RE.finditer(text):
        h1, m1, s1, f1, h2, m2, s2, f2, body = match.groups()
        body = body.rstrip()
        if body[-1:].isdigit():
            body = _drop_next_cue_number(body, text, match.end())
        if not body:
            continue
        start = timestamp_from_match(h1, m1, s1, f1)
        end = timestamp_from_match(h2, m2, s2, f2)
        if end < start:
            end = start
        for voice, words in voice_spans(body):
            named = voice
            if named is None:
                named, words = split_speaker_prefix(words)
            if named is not None:
                speaker = named
            if words:
                segments.append(Segment(start, end, words, speaker))
    if not segments:
        bad = next(
            (line.strip() for line in text.split("\n") if "-->" in line and not _TIMING_RE.fullmatch(line)), None
        )
        if bad is not None:
            raise TranscriptParseError(source, f"no {fmt.upper()} cue could be read; bad timing line {bad!r}")
        raise TranscriptParseError(
            source, f"no {fmt.upper()} cues found (expected timing lines such as '00:00:01.000 --> 00:00:04.000')"
        )
    return segments
