"""Which ``<podcast:transcript>`` link to try first.

Why this order: VTT and SRT carry timestamps per cue (the transcript-tag spec recommends them for
captions), the JSON format carries timestamps and speakers, HTML sometimes has speakers but rarely
times, plain text has neither. Language beats format: for an English show, an untimed English text
is worth more than timed Spanish captions (usually a translation). A link without a language is
assumed to be in the show's language. ``rel="captions"`` only says the file is meant for display in
sync with the audio, which is no reason to avoid it.

MIME types in the wild are inconsistent (``application/x-subrip``, ``text/srt``, VTT served as
``text/plain``), so a missing, generic or unknown type falls back to the URL's file extension.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from cast_pipeline.feeds.model import TranscriptLink
from cast_pipeline.transcripts.parsing import format_from_filename, format_from_media_type, split_content_type

FORMAT_ORDER: tuple[str, ...] = ("vtt", "srt", "json", "html", "text")
# The canonical MIME type and file extension of each format (for parsers and stored raw files).
FORMAT_MIME = {
    "vtt": "text/vtt",
    "srt": "application/x-subrip",
    "json": "application/json",
    "html": "text/html",
    "text": "text/plain",
}
FORMAT_EXTENSION = {"vtt": "vtt", "srt": "srt", "json": "json", "html": "html", "text": "txt"}


def transcript_format(link: TranscriptLink) -> str | None:
    """``vtt``, ``srt``, ``json``, ``html`` or ``text``; ``None`` when neither type nor URL tells.

    Uses the parser's own media-type and extension tables, so ranking and parsing agree on formats.
    """
    media, _ = split_content_type(link.type)
    by_type = "text" if media == "text/plain" else format_from_media_type(media)
    if by_type is not None and by_type != "text":
        return by_type
    # missing, unknown or generic (text/plain, octet-stream) type: the file name is better evidence
    path = urlsplit(link.url).path.lower()
    return format_from_filename(path) or by_type or ("text" if path.endswith(".txt") else None)


def _primary(language: str | None) -> str | None:
    if not language or not language.strip():
        return None
    return language.strip().replace("_", "-").split("-", 1)[0].lower()


def rank_transcript_links(links: Sequence[TranscriptLink], language: str | None) -> list[TranscriptLink]:
    """``links`` best first: the show's language, then format (:data:`FORMAT_ORDER`), then feed order."""
    wanted = _primary(language)

    def sort_key(indexed: tuple[int, TranscriptLink]) -> tuple[int, int, int]:
        index, link = indexed
        own = _primary(link.language)
        language_rank = 0 if wanted is None or own == wanted else 1 if own is None else 2
        fmt = transcript_format(link)
        format_rank = FORMAT_ORDER.index(fmt) if fmt else len(FORMAT_ORDER)
        return language_rank, format_rank, index

    return [link for _, link in sorted(enumerate(links), key=sort_key)]
