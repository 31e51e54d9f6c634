"""Recognise finished speech work from its file: same audio, same model, a file that parses.

Why: transcription is by far the most expensive step. A batch killed halfway (kill -9, Ctrl-C, a
full disk, a lost database) has already written ``speech-<location>.json`` for the episodes it
finished, atomically. When the next run covers them again, the file says what it was made from: the
audio fingerprint (size + mtime of the downloaded file) and the model (``<backend>:<model>``, the
speech asset's code version). Same audio and same model means the work is done: it is reported as
reused, not redone. A new download, another model, or a file that does not parse is transcribed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cast_pipeline.segments import segments_from_json, word_count

REUSED = "reused"


@dataclass(frozen=True)
class ReusableSpeech:
    path: Path
    meta: dict[str, Any]  # the file's document metadata (model, language, duration, ...)
    segments: int
    words: int

    def reason(self) -> str:
        made = self.meta.get("transcribed_at") or "earlier"
        return (
            f"{self.path.name} of {made} was made from the same audio by the same model "
            f"({made_by(self.meta)}): not transcribed again"
        )


def made_by(meta: dict[str, Any]) -> str:
    """``<backend>:<model>`` of a speech file (older files have no ``code_version`` field)."""
    return str(meta.get("code_version") or f"{meta.get('backend')}:{meta.get('model')}")


def reusable_speech(path: Path, audio_fingerprint: str, version: str) -> tuple[ReusableSpeech | None, str]:
    """The finished result in ``path`` when it matches the audio and model, else None and why not."""
    try:
        segments, meta = segments_from_json(path.read_bytes())
    except FileNotFoundError:
        return None, "no earlier result"
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return None, f"{path.name} does not parse ({type(exc).__name__}: {exc}): transcribing again"
    if meta.get("audio_fingerprint") != audio_fingerprint:
        return None, f"{path.name} was made from other audio (a new download): transcribing again"
    if made_by(meta) != version:
        return None, f"{path.name} was made by {made_by(meta)}, the model is now {version}: transcribing again"
    return ReusableSpeech(path, meta, len(segments), word_count(segments)), "reused"
