"""What diarization produces: speaker turns, and the ``speakers-<location>.json`` file that keeps them.

Why turns (not labelled words): every backend can give turns (pyannote and NeMo give nothing else),
and a turn list stays valid when the transcript is rebuilt; words get their speaker when the
transcript is built (cast_pipeline.speakers.align). The file records which speech result the turns
were made for (its fingerprint), so a transcript never pairs speech with turns of another run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SPEAKERS_PREFIX = "speakers-"  # speakers-<location>.json beside speech-<location>.json


@dataclass(frozen=True, slots=True)
class Turn:
    """A stretch of time in which one speaker talks; ``speaker`` is ``Speaker N`` (N by first appearance)."""

    start: float
    end: float
    speaker: str

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)


@dataclass(frozen=True)
class SpeakerResult:
    turns: list[Turn]
    method: str  # e.g. resemblyzer+ahc
    model: str  # weights the method used
    duration: float  # seconds of audio
    processing_seconds: float
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def speakers(self) -> list[str]:
        return list(dict.fromkeys(t.speaker for t in self.turns))

    def talk_time(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for t in self.turns:
            out[t.speaker] = out.get(t.speaker, 0.0) + t.duration
        return out

    def to_json(self, **meta: Any) -> str:
        doc = {
            "source": "speakers",
            "method": self.method,
            "model": self.model,
            "duration": round(self.duration, 3),
            "processing_seconds": round(self.processing_seconds, 3),
            "speakers": self.speakers,
            **self.details,
            **meta,
            "turns": [{"start": round(t.start, 3), "end": round(t.end, 3), "speaker": t.speaker} for t in self.turns],
        }
        return json.dumps(doc, ensure_ascii=False, indent=1)


def speakers_file(location: str) -> str:
    """The diarization file of a transcription location: ``speakers-<location>.json``."""
    if not location or not location.replace("_", "").isalnum():
        raise ValueError(f"not a location prefix: {location!r}")
    return f"{SPEAKERS_PREFIX}{location}.json"


def content_fingerprint(path: Path) -> str:
    """SHA-1 of a file's bytes: ties a speakers file to the exact speech result it was made for."""
    return hashlib.sha1(path.read_bytes()).hexdigest()


def read_turns(path: Path) -> tuple[list[Turn], dict[str, Any]] | None:
    """Turns and metadata of a speakers file, or None when it does not exist or holds none."""
    if not path.exists():
        return None
    doc = json.loads(path.read_bytes())
    turns = [Turn(float(t["start"]), float(t["end"]), str(t["speaker"])) for t in doc.pop("turns", None) or ()]
    return turns, doc
