"""Segments to Markdown, SRT, WebVTT, plain text and JSON.

Choices that matter to readers of the output:

- Markdown: ``# Title``, a list of facts (feed, publication date, source, link; empty ones left
  out), a blank line, then one ``**[HH:MM:SS]** Speaker: text`` line per segment. Segment lines are
  separated by blank lines so that every renderer shows them as separate paragraphs (consecutive
  lines would be joined into one). Inline Markdown characters in titles, speakers and text
  (``\\ ` * _ [ ] < >``) are backslash-escaped, so a transcript saying ``*sigh*`` or ``[music]``
  cannot turn into emphasis, links or HTML; nothing else is touched, so the text stays readable.
- SRT and VTT write the speaker on every cue (``Sarah: text`` / ``<v Sarah>text``), so each cue is
  self-contained for players that show one cue at a time; :func:`cast_pipeline.transcripts.parse`
  reads both back with times to the millisecond. VTT text is entity-escaped (``&amp; &lt; &gt;``)
  as its spec requires; SRT has no escaping, so text that looks like a tag will not survive SRT.
  Because both formats carry a speaker forward to unnamed cues, a segment without a speaker that
  follows a named one reads back with that name.
- Plain text: one paragraph per segment, ``Speaker: `` only when the speaker changes (reads like
  a script), no times.
- JSON: :func:`cast_pipeline.segments.segments_to_json`, header values as document metadata.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from cast_pipeline.segments import Segment, segments_to_json
from cast_pipeline.transcripts.timecode import format_clock, format_timestamp

RENDER_FORMATS = ("md", "srt", "vtt", "json", "txt")
_ALIASES = {"markdown": "md", "text": "txt", "webvtt": "vtt"}
_MARKDOWN_SPECIAL_RE = re.compile(r"([\\`*_\[\]<>])")
_VTT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_MARKDOWN_HEADER = ("title", "feed_title", "published", "source")


def _md(text: str) -> str:
    return _MARKDOWN_SPECIAL_RE.sub(r"\\\1", " ".join(text.split()))


def to_markdown(
    segments: Sequence[Segment],
    *,
    title: str,
    feed_title: str,
    published: datetime | None,
    source: str,
    link: str | None = None,
) -> str:
    """The episode as a Markdown document (layout in the module docstring)."""
    lines = [f"# {_md(title) or 'Untitled episode'}", ""]
    if feed_title.strip():
        lines.append(f"- Feed: {_md(feed_title)}")
    if published is not None:
        lines.append(f"- Published: {published.date().isoformat()}")
    lines.append(f"- Source: {_md(source)}")
    if link:
        lines.append(f"- Link: <{link.strip().replace('>', '%3E').replace(' ', '%20')}>")
    for segment in segments:
        speaker = f"{_md(segment.speaker)}: " if segment.speaker else ""
        lines += ["", f"**[{format_clock(segment.start)}]** {speaker}{_md(segment.text)}"]
    return "\n".join(lines) + "\n"


def _cue_text(text: str) -> str:
    return " ".join(text.split())


def to_srt(segments: Sequence[Segment]) -> str:
    """SubRip captions: numbered cues, comma milliseconds, ``Speaker: `` prefixes."""
    blocks = []
    for number, segment in enumerate(segments, start=1):
        speaker = f"{_cue_text(segment.speaker)}: " if segment.speaker else ""
        timing = f"{format_timestamp(segment.start, ',')} --> {format_timestamp(max(segment.start, segment.end), ',')}"
        blocks.append(f"{number}\n{timing}\n{speaker}{_cue_text(segment.text)}\n")
    return "\n".join(blocks)


def to_vtt(segments: Sequence[Segment]) -> str:
    """WebVTT captions with ``<v Speaker>`` voice tags and escaped text."""
    blocks = ["WEBVTT\n"]
    for segment in segments:
        voice = f"<v {_cue_text(segment.speaker).translate(_VTT_ESCAPES)}>" if segment.speaker else ""
        timing = f"{format_timestamp(segment.start)} --> {format_timestamp(max(segment.start, segment.end))}"
        blocks.append(f"{timing}\n{voice}{_cue_text(segment.text).translate(_VTT_ESCAPES)}\n")
    return "\n".join(blocks)


def to_text(segments: Sequence[Segment]) -> str:
    """Plain text: paragraphs, with the speaker named when it changes."""
    paragraphs = []
    previous: str | None = None
    for segment in segments:
        text = _cue_text(segment.text)
        if segment.speaker and segment.speaker != previous:
            text = f"{_cue_text(segment.speaker)}: {text}"
        previous = segment.speaker
        paragraphs.append(text)
    return "\n\n".join(paragraphs) + "\n" if paragraphs else ""


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def render(fmt: str, segments: Sequence[Segment], **header: Any) -> str:
    """Render ``segments`` as ``fmt`` (md, srt, vtt, json or txt).

    ``header`` holds the episode facts (``title``, ``feed_title``, ``published``, ``source``,
    optional ``link``): Markdown needs them, JSON stores them as metadata, the others ignore them.
    """
    name = _ALIASES.get(fmt.lower(), fmt.lower())
    renderers: dict[str, Callable[[], str]] = {
        "md": lambda: _markdown_from_header(segments, header),
        "srt": lambda: to_srt(segments),
        "vtt": lambda: to_vtt(segments),
        "txt": lambda: to_text(segments),
        "json": lambda: segments_to_json(segments, **{k: _json_value(v) for k, v in header.items()}) + "\n",
    }
    if name not in renderers:
        raise ValueError(f"unknown transcript format {fmt!r}; valid formats: {', '.join(RENDER_FORMATS)}")
    return renderers[name]()


def _markdown_from_header(segments: Sequence[Segment], header: dict[str, Any]) -> str:
    missing = [key for key in _MARKDOWN_HEADER if key not in header]
    if missing:
        raise ValueError(f"Markdown needs the header values {', '.join(missing)} (pass them to render())")
    return to_markdown(
        segments,
        title=str(header["title"]),
        feed_title=str(header["feed_title"] or ""),
        published=header["published"],
        source=str(header["source"]),
        link=header.get("link"),
    )
