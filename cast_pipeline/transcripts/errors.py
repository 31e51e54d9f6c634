"""The one error a publisher transcript can raise while being read.

Why a dedicated ``ValueError`` subclass: the ``publisher_transcript`` asset records an unusable
transcript (status ``unusable`` plus the reason) instead of failing the run, so it needs to tell
"this file is bad" apart from bugs. The message always names the input (file name and/or content
type) and says what was wrong, so the reason stored for an episode is actionable on its own.
"""

from __future__ import annotations


def describe_source(content_type: str | None, filename: str | None) -> str:
    """Human name of an input for error messages: ``'ep1.vtt' (text/vtt)``, or ``'<bytes>'``."""
    name = repr(filename) if filename else "transcript"
    return f"{name} ({content_type})" if content_type else name


class TranscriptParseError(ValueError):
    """A transcript could not be decoded or parsed; ``source`` names the input, ``reason`` says why."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"cannot read {source}: {reason}")
        self.source = source
        self.reason = reason
