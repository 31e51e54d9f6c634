"""``parse``: publisher transcript bytes, in any supported format, to segments.

Format detection, strongest evidence first:

1. A specific content type: ``text/vtt``; ``application/x-subrip``, ``application/srt``,
   ``text/srt`` (and ``x-`` variants); ``application/json`` or any ``+json``; ``text/html``.
2. A specific extension of ``filename`` (a path or URL; query and fragment ignored): ``.vtt``,
   ``.srt``, ``.json``, ``.html``/``.htm``.
3. Sniffing the text: a ``WEBVTT`` header, a JSON object or array, markup, or a caption timing line
   in the first 4 KiB.
4. Plain text: for ``text/plain``, ``.txt``, ``application/octet-stream`` and anything unknown.
   Servers send VTT and SRT as ``text/plain`` (and name them ``.txt``), which is why these rank
   below sniffing.

Two corrections for mislabelled files, because hosts get content types wrong far more often than
publishers get file contents wrong:

- Declared HTML whose text starts like captions or JSON (no markup first) is read as what it is;
  the HTML reader would otherwise accept it as one paragraph of text with timing lines in it.
- If the chosen parser fails and sniffing shows captions or JSON, that format is tried before
  giving up (a feed that declares ``text/vtt`` for a JSON file is still read); the error raised is
  the first parser's. There is no fallback *to* HTML or text: a ``.vtt`` link that returns an HTML
  page is an error page, not a transcript.

Encoding is handled by :mod:`.decoding`, including the content type's charset.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from cast_pipeline.segments import Segment
from cast_pipeline.transcripts.captions import parse_captions
from cast_pipeline.transcripts.decoding import decode_transcript
from cast_pipeline.transcripts.errors import TranscriptParseError, describe_source
from cast_pipeline.transcripts.htmlfmt import parse_html
from cast_pipeline.transcripts.jsonfmt import parse_json
from cast_pipeline.transcripts.plaintext import parse_text

FORMATS = ("vtt", "srt", "json", "html", "text")
_MEDIA_TYPES = {
    "text/vtt": "vtt",
    "text/webvtt": "vtt",
    "application/x-subrip": "srt",
    "application/srt": "srt",
    "application/x-srt": "srt",
    "text/srt": "srt",
    "text/x-srt": "srt",
    "text/x-subrip": "srt",
    "application/json": "json",
    "text/json": "json",
    "text/html": "html",
    "application/xhtml+xml": "html",
}
_EXTENSIONS = {".vtt": "vtt", ".webvtt": "vtt", ".srt": "srt", ".json": "json", ".html": "html", ".htm": "html"}
_FALLBACKS = ("vtt", "srt", "json")  # formats whose content signature is unambiguous
_SNIFF_CHARS = 4096
_SNIFF_TIMING_RE = re.compile(r"^[ \t]*[\d:.,]+[ \t]*-->", re.MULTILINE)
_PARSER_FAMILY = {"vtt": "captions", "srt": "captions"}  # one reader: retrying the other is pointless
_PARSERS: dict[str, Callable[[str, str], list[Segment]]] = {
    "vtt": lambda text, source: parse_captions(text, source, "vtt"),
    "srt": lambda text, source: parse_captions(text, source, "srt"),
    "json": parse_json,
    "html": parse_html,
    "text": parse_text,
}


def split_content_type(content_type: str | None) -> tuple[str | None, str | None]:
    """``("text/vtt", "utf-8")`` for ``"text/vtt; charset=UTF-8"``; ``None`` for missing parts."""
    if not content_type or not content_type.strip():
        return None, None
    media, *params = content_type.split(";")
    charset = None
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("'\"") or None
    return media.strip().lower() or None, charset


def format_from_media_type(media: str | None) -> str | None:
    """The format a (lower-case, parameter-free) media type names; None for generic or unknown ones."""
    if media is None:
        return None
    if media.endswith("+json"):
        return "json"
    return _MEDIA_TYPES.get(media)


def format_from_filename(filename: str | None) -> str | None:
    """The format a file name or URL path names by its extension (.txt is no evidence: None)."""
    if not filename:
        return None
    path = urlsplit(filename).path if "://" in filename else filename.split("?", 1)[0].split("#", 1)[0]
    name = path.rsplit("/", 1)[-1].lower()
    dot = name.rfind(".")
    return _EXTENSIONS.get(name[dot:]) if dot >= 0 else None


def sniff_format(text: str) -> str | None:
    """The format the content itself shows, or ``None`` when it shows none (plain text)."""
    head = text[:_SNIFF_CHARS].lstrip("\ufeff \t\r\n")
    if head.startswith("WEBVTT"):
        return "vtt"
    if head.startswith("{") or (head.startswith("[") and head[1:].lstrip()[:1] in ("{", '"', "]")):
        return "json"
    if head.startswith("<"):
        return "html"
    match = _SNIFF_TIMING_RE.search(head)
    if match:
        return "srt" if "," in match.group(0) else "vtt"
    return None


def detect_format(text: str, content_type: str | None = None, filename: str | None = None) -> str:
    """One of :data:`FORMATS`, following the order in the module docstring."""
    media, _ = split_content_type(content_type)
    sniffed = sniff_format(text)
    declared = format_from_media_type(media) or format_from_filename(filename)
    if declared == "html" and sniffed in _FALLBACKS:
        return sniffed  # captions or JSON served as HTML
    return declared or sniffed or "text"


def parse(data: bytes, content_type: str | None = None, filename: str | None = None) -> list[Segment]:
    """Segments of a publisher transcript; raises :class:`TranscriptParseError` naming the input.

    ``content_type`` is the HTTP ``Content-Type`` (or the ``type`` of the ``<podcast:transcript>``
    tag), ``filename`` the file name or URL; both are optional hints.
    """
    source = describe_source(content_type, filename)
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"parse() needs the transcript as bytes, got {type(data).__name__} for {source}")
    _, charset = split_content_type(content_type)
    text = decode_transcript(bytes(data), charset, source)
    if not text.strip():
        raise TranscriptParseError(source, "the file contains only whitespace")
    fmt = detect_format(text, content_type, filename)
    try:
        return _PARSERS[fmt](text, source)
    except TranscriptParseError as first_error:
        sniffed = sniff_format(text)
        if sniffed not in _FALLBACKS or _PARSER_FAMILY.get(sniffed, sniffed) == _PARSER_FAMILY.get(fmt, fmt):
            raise
        try:
            return _PARSERS[sniffed](text, source)
        except TranscriptParseError:
            raise first_error from None
