"""The one segment type every transcript source is normalised into.

Publisher transcripts (VTT, SRT, JSON, HTML, text) and speech models (Whisper, Parakeet) all produce
``Segment`` lists, so merging, rendering, embedding and search never care where text came from.
Times are seconds from the start of the episode as floats; ``speaker`` is ``None`` when unknown.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Word:
    """One timed word, kept when a speech model gives word timestamps."""

    start: float
    end: float
    text: str
    probability: float | None = None


@dataclass(frozen=True, slots=True)
class Segment:
    start: float
    end: float
    text: str
    speaker: str | None = None
    words: tuple[Word, ...] = field(default=())

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "text": self.text,
            "speaker": self.speaker,
        }
        if self.words:
            out["words"] = [
                {"start": round(w.start, 3), "end": round(w.end, 3), "text": w.text, "probability": w.probability}
                for w in self.words
            ]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Segment:
        words = tuple(
            Word(float(w["start"]), float(w["end"]), str(w["text"]), w.get("probability"))
            for w in data.get("words") or ()
        )
        return cls(
            start=float(data["start"]),
            end=float(data["end"]),
            text=str(data["text"]),
            speaker=data.get("speaker"),
            words=words,
        )


def segments_to_json(segments: Iterable[Segment], **meta: Any) -> str:
    """Serialise segments (plus document-level metadata such as source or model) as JSON text."""
    return json.dumps({**meta, "segments": [s.to_dict() for s in segments]}, ensure_ascii=False, indent=1)


def segments_from_json(text: str | bytes) -> tuple[list[Segment], dict[str, Any]]:
    """Inverse of :func:`segments_to_json`: returns the segments and the document metadata."""
    doc = json.loads(text)
    segments = [Segment.from_dict(d) for d in doc.pop("segments")]
    return segments, doc


def word_count(segments: Sequence[Segment]) -> int:
    return sum(len(s.text.split()) for s in segments)
