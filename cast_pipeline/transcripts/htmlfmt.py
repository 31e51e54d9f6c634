"""Podcast-namespace HTML transcripts to segments.

The format (transcripts-spec.md) is a flat run of ``<cite>Speaker:</cite> <time>0:09</time>
<p>text</p>``: speaker and time are optional and apply to the paragraph that follows them. We read
it with a small tokenizer of our own (one pass with ``str.find`` and an anchored regex, no tree;
the standard library's ``HTMLParser`` takes quadratic time on inputs like ``<a<a<a...``), and
tolerate what pages do:

- each ``<p>`` (or other block element: ``div``, ``li``, ``blockquote``, headings, table rows) is
  one segment; ``<br>`` is a space; inline tags (``<b>``, ``<a>``, ``<span>``) are dropped and
  entities decoded; ``script``, ``style``, ``template``, ``noscript`` and ``title`` are ignored;
- a ``<cite>`` names the speaker from there on (trailing ``:`` and spaces removed, ``Alban :``);
  without cites, a ``Name:`` prefix in the paragraph follows the rule of :mod:`.cuetext`;
- a ``<time>`` holds ``M:SS``, ``H:MM:SS`` or bare seconds, else its ``datetime`` attribute as an
  ISO 8601 duration (``PT1M42S``); an unreadable time is ignored (the page may be a plain web page
  with dates), and an untimed paragraph starts where the previous one did (``0.0`` at first);
- HTML gives start times only, so a segment ends where the next one starts (the last one, or
  one followed by an earlier start, ends at its own start).
"""

from __future__ import annotations

import html
import re

from cast_pipeline.segments import Segment
from cast_pipeline.transcripts.cuetext import collapse, split_speaker_prefix
from cast_pipeline.transcripts.errors import TranscriptParseError
from cast_pipeline.transcripts.plaintext import segments_from_starts
from cast_pipeline.transcripts.timecode import parse_timestamp

_BLOCK_TAGS = "p div li ul ol blockquote h1 h2 h3 h4 h5 h6 tr table section article main header footer dd dt body"
_BLOCKS = frozenset(_BLOCK_TAGS.split())
_IGNORED = frozenset(["script", "style", "template", "noscript", "title"])
_CLOSERS = {tag: re.compile(rf"</{tag}", re.IGNORECASE) for tag in _IGNORED}
_TAG_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)([^<>]*)>")  # [^<>]: never scans past the next tag
_DATETIME_RE = re.compile(r"""datetime\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)
_ISO_DURATION_RE = re.compile(r"P(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", re.IGNORECASE)


def _html_time(text: str, datetime_attr: str | None) -> float | None:
    seconds = parse_timestamp(text)
    if seconds is None and datetime_attr:
        seconds = parse_timestamp(datetime_attr)
        match = _ISO_DURATION_RE.fullmatch(datetime_attr.strip())
        if seconds is None and match and any(match.groups()):
            hours, minutes, secs = match.groups()
            seconds = round(int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(secs or 0), 3)
    return seconds


class _TranscriptHTML:
    """Turns tag and text events into ``(start, text, speaker)`` rows."""

    def __init__(self) -> None:
        self.rows: list[tuple[float, str, str | None]] = []
        self.speaker: str | None = None
        self.start = 0.0
        self.saw_cite = False
        self._text: list[str] = []
        self._field: list[str] | None = None  # collecting a <cite> or <time>
        self._datetime: str | None = None

    def start_tag(self, tag: str, attrs: str) -> None:
        if tag in ("cite", "time"):
            self._flush()
            self._field = []
            found = _DATETIME_RE.search(attrs) if tag == "time" else None
            self._datetime = html.unescape(next(g for g in found.groups() if g is not None)) if found else None
        elif tag == "br":
            self.data(" ")
        elif tag in _BLOCKS:
            self._flush()

    def end_tag(self, tag: str) -> None:
        if tag in ("cite", "time") and self._field is not None:
            value = collapse(html.unescape("".join(self._field)))
            self._field = None
            if tag == "cite":
                self.speaker = value.rstrip(":").rstrip() or None
                self.saw_cite = True
            else:
                seconds = _html_time(value, self._datetime)
                self.start = self.start if seconds is None else seconds
        elif tag in _BLOCKS:
            self._flush()

    def data(self, text: str) -> None:
        (self._field if self._field is not None else self._text).append(text)

    def _flush(self) -> None:
        text = collapse(html.unescape("".join(self._text)))
        self._text.clear()
        if not text:
            return
        if not self.saw_cite:
            speaker, text = split_speaker_prefix(text)
            if speaker is not None:
                self.speaker = speaker
            if not text:
                return
        self.rows.append((self.start, text, self.speaker))

    def feed(self, text: str) -> None:
        """One left-to-right scan; each character is looked at a bounded number of times."""
        pos = 0
        while True:
            lt = text.find("<", pos)
            if lt < 0:
                self.data(text[pos:])
                break
            self.data(text[pos:lt])
            if text.startswith("<!--", lt):
                end = text.find("-->", lt + 4)
                pos = len(text) if end < 0 else end + 3
                continue
            if text.startswith(("<!", "<?"), lt):  # doctype, processing instruction
                end = text.find(">", lt)
                pos = len(text) if end < 0 else end + 1
                continue
            match = _TAG_RE.match(text, lt)
            if match is None:  # a literal "<" in text
                self.data("<")
                pos = lt + 1
                continue
            closing, tag, attrs = match.group(1), match.group(2).lower(), match.group(3)
            pos = match.end()
            if closing:
                self.end_tag(tag)
            elif tag in _IGNORED:
                closer = _CLOSERS[tag].search(text, pos)
                pos = len(text) if closer is None else closer.start()
            else:
                self.start_tag(tag, attrs)
        self._flush()


def parse_html(text: str, source: str) -> list[Segment]:
    """Segments of a podcast-namespace HTML transcript (or any page of paragraphs)."""
    reader = _TranscriptHTML()
    reader.feed(text)
    rows = reader.rows
    if not rows:
        raise TranscriptParseError(
            source, "no text found in the HTML (expected <p> paragraphs, optionally with <cite> and <time>)"
        )
    return segments_from_starts(rows)
