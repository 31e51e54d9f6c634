"""Speaker diarization: who spoke when in a speech transcript (no Dagster here).

- :mod:`.encoder`, :mod:`.cluster`, :mod:`.diarize`: the offline default (Resemblyzer's voice encoder
  from its PyPI wheel, clustering with an automatic number of speakers, word-level labelling).
- :mod:`.hub`: pyannote and NeMo, for users who have their hub weights.
- :mod:`.align`: turns onto a transcript's words and segments, ``Speaker N`` labels, feed host names.
- :mod:`.episodes`: the per-episode files (``speakers-<location>.json``) and applying them to a
  transcript; :mod:`.metrics`: DER and word accuracy for tests and bench/bench_speakers.py.

Heavy modules (torch, resemblyzer, pyannote, NeMo) are imported only when a diarizer runs.
"""

from __future__ import annotations

from cast_pipeline.settings import Settings
from cast_pipeline.speakers.diarize import Diarizer, EmbeddingDiarizer
from cast_pipeline.speakers.model import SpeakerResult, Turn

DIARIZERS = ("resemblyzer", "pyannote", "nemo", "off")
DEFAULT_CLUSTERING = "spectral"  # measured best by bench/bench_speakers.py (README: who spoke when)

__all__ = ["DIARIZERS", "Diarizer", "SpeakerResult", "Turn", "diarizer_from_settings", "enabled"]


def enabled(settings: Settings) -> bool:
    return settings.diarization.strip().lower() not in ("off", "none", "false", "0", "")


def diarizer_from_settings(settings: Settings, device: str = "auto") -> Diarizer | None:
    """The configured diarizer (not loaded yet), or None when CAST_DIARIZATION=off."""
    name = settings.diarization.strip().lower()
    model = settings.diarization_model.strip()
    if not enabled(settings):
        return None
    if name == "resemblyzer":
        from cast_pipeline.speakers.cluster import METHODS

        clustering = model or DEFAULT_CLUSTERING
        if clustering not in METHODS:
            raise ValueError(
                f"CAST_DIARIZATION_MODEL={model!r} is not a clustering method for resemblyzer; use one of "
                f"{', '.join(METHODS)} (or leave it empty)"
            )
        return EmbeddingDiarizer(clustering, device="cpu" if device == "auto" else device)
    if name == "pyannote":
        from cast_pipeline.speakers.hub import PyannoteDiarizer

        return PyannoteDiarizer(model, device)
    if name == "nemo":
        from cast_pipeline.speakers.hub import NemoDiarizer

        return NemoDiarizer(model, device)
    raise ValueError(f"unknown CAST_DIARIZATION={settings.diarization!r}; use one of {', '.join(DIARIZERS)}")


def describe(settings: Settings) -> str:
    """``method:model`` of the configured diarizer (the speakers asset's code version), or ``off``."""
    diarizer = diarizer_from_settings(settings)
    return "off" if diarizer is None else f"{diarizer.method}:{diarizer.model}"
