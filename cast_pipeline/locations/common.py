"""What the transcription locations share: the speech model configured from the host's environment."""

from __future__ import annotations

import os

from cast_pipeline.defs.speech.resources import DEFAULT_BATCH_SIZE, SpeechModel
from cast_pipeline.settings import SETTINGS, load_settings


def _env(field: str) -> str | None:
    return os.environ.get(SETTINGS[field].env) or None


def location_speech_model(
    *, backend: str, device: str | None = None, batch_size: int | None = DEFAULT_BATCH_SIZE
) -> SpeechModel:
    """The location's :class:`SpeechModel`: CAST_SPEECH_* of this host first, else the location's defaults.

    Why explicit defaults per location: the package default (faster-whisper, device auto) suits one
    machine, while a GPU box should fail loudly rather than fall back to its CPU when CUDA is missing,
    and a Mac uses mlx-whisper.
    """
    return SpeechModel(
        backend=_env("speech_backend") or backend,
        model=_env("speech_model"),
        device=_env("speech_device") or device,
        compute_type=_env("speech_compute_type"),
        batch_size=load_settings().speech_batch_size if _env("speech_batch_size") else batch_size,
    )
