"""The ``SpeechModel`` resource: which speech model a code location runs, loaded once per process.

Why a resource: each location configures its own backend and device (the GPU box faster-whisper on
CUDA or Parakeet, the Mac mlx-whisper, one machine the CPU), the launchpad can override them per run,
and the model is loaded lazily, only when a run actually has an episode to transcribe. Loading goes
through :func:`cast_pipeline.speech.load_transcriber`, whose process-wide cache means one load per
run worker however many episodes the run covers.
"""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from cast_pipeline.settings import Settings, load_settings
from cast_pipeline.speech import Transcriber, load_transcriber
from cast_pipeline.speech.backends import normalize_language

# None: CAST_SPEECH_BATCH_SIZE (4: batched faster-whisper, chunks that end early decoded again; see
# cast_pipeline.speech.backends.batched). 0 = sequential decoding.
DEFAULT_BATCH_SIZE: int | None = None


class SpeechModel(dg.ConfigurableResource):
    """Speech backend, model and device; unset fields come from the CAST_SPEECH_* settings."""

    backend: str | None = None  # faster-whisper, parakeet, mlx-whisper (CAST_SPEECH_BACKEND)
    model: str | None = None  # e.g. tiny.en, large-v3-turbo, nvidia/parakeet-tdt-0.6b-v3 (CAST_SPEECH_MODEL)
    device: str | None = None  # auto, cpu, cuda (CAST_SPEECH_DEVICE)
    compute_type: str | None = None  # default, int8, float16... (CAST_SPEECH_COMPUTE_TYPE)
    language: str | None = None  # force a language; None: CAST_SPEECH_LANGUAGE, else the feed's, else detect
    batch_size: int | None = DEFAULT_BATCH_SIZE  # faster-whisper only; None: CAST_SPEECH_BATCH_SIZE, 0: sequential
    vad: bool = True  # skip silence and music (faster-whisper's Silero VAD)

    _transcriber: Transcriber | None = PrivateAttr(default=None)
    _load_error: Exception | None = PrivateAttr(default=None)

    def _settings(self) -> Settings:
        return load_settings()

    @property
    def resolved_backend(self) -> str:
        return self.backend or self._settings().speech_backend

    @property
    def resolved_model(self) -> str:
        return self.model or self._settings().speech_model

    def describe(self) -> str:
        """``<backend>:<model>``: the speech assets' code version and the transcripts' source."""
        return f"{self.resolved_backend}:{self.resolved_model}"

    def language_for(self, episode_language: str | None) -> str | None:
        """Forced language (resource, then CAST_SPEECH_LANGUAGE), else the feed's primary subtag, else None."""
        forced = self.language or self._settings().speech_language
        return normalize_language(forced or episode_language)

    def transcriber(self) -> Transcriber:
        """The loaded model (loaded on first call; a load failure is remembered, not retried per episode)."""
        if self._transcriber is not None:
            return self._transcriber
        if self._load_error is not None:
            raise self._load_error
        settings = self._settings()
        try:
            self._transcriber = load_transcriber(
                self.backend or settings.speech_backend,
                self.model or settings.speech_model,
                self.device or settings.speech_device,
                self.compute_type or settings.speech_compute_type,
                batch_size=settings.speech_batch_size if self.batch_size is None else self.batch_size,
                vad=self.vad,
            )
        except Exception as exc:
            self._load_error = exc
            raise
        return self._transcriber
