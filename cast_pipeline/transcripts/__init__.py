"""Publisher transcripts: parse any supported file into segments, merge them into phrases, render them.

- :func:`parse` reads VTT, SRT, Podcasting 2.0 JSON, podcast-namespace HTML and plain text, from
  bytes with any common encoding, and raises :class:`TranscriptParseError` for unusable input.
- :func:`merge_phrases` turns word-level or fragmentary segments into readable phrases.
- :func:`render` (and ``to_markdown``, ``to_srt``, ``to_vtt``, ``to_text``) writes them out.

Plain Python, no Dagster: the assets in ``cast_pipeline/defs/transcripts`` call these.
"""

from cast_pipeline.transcripts.errors import TranscriptParseError
from cast_pipeline.transcripts.merge import merge_phrases
from cast_pipeline.transcripts.parsing import FORMATS, detect_format, parse
from cast_pipeline.transcripts.render import RENDER_FORMATS, render, to_markdown, to_srt, to_text, to_vtt

__all__ = [
    "FORMATS",
    "RENDER_FORMATS",
    "TranscriptParseError",
    "detect_format",
    "merge_phrases",
    "parse",
    "render",
    "to_markdown",
    "to_srt",
    "to_text",
    "to_vtt",
]
