"""Choose and load a speech backend; loaded models are cached for the life of the process.

Why a process-wide cache: loading a model costs seconds (large-v3 on GPU: tens of seconds) while a
short episode transcribes in about as long, so a run over N episodes (a Dagster run over a
partition range, the ``transcribe`` CLI) must load it once. The cache key is
``(backend, model, device, compute type)`` after resolving ``auto``/``default``; the per-call
options (batch size, VAD) only change the thin wrapper returned around the cached model.
Backend modules are imported lazily: NeMo or MLX are never imported unless asked for.
"""

from __future__ import annotations

import importlib
import threading
from types import ModuleType
from typing import Any

from cast_pipeline.settings import Settings, load_settings
from cast_pipeline.speech.backends.base import SpeechResult, Transcriber, normalize_language
from cast_pipeline.speech.errors import BackendUnavailableError

__all__ = [
    "BACKENDS",
    "SpeechResult",
    "Transcriber",
    "clear_model_cache",
    "load_transcriber",
    "loaded_models",
    "normalize_language",
    "transcriber_from_settings",
]

BACKENDS = {"faster-whisper": "faster_whisper", "parakeet": "parakeet", "mlx-whisper": "mlx"}
_ALIASES = {"faster_whisper": "faster-whisper", "whisper": "faster-whisper", "nemo": "parakeet", "mlx": "mlx-whisper"}

_cache: dict[tuple[str, str, str, str], Any] = {}
_lock = threading.Lock()


def _backend_module(backend: str) -> tuple[str, ModuleType]:
    name = (backend or "").strip().lower()
    name = _ALIASES.get(name, name)
    if name not in BACKENDS:
        raise BackendUnavailableError(
            f"unknown speech backend {backend!r}; set CAST_SPEECH_BACKEND to one of {', '.join(BACKENDS)}"
        )
    return name, importlib.import_module(f"cast_pipeline.speech.backends.{BACKENDS[name]}")


def load_transcriber(
    backend: str,
    model: str,
    device: str = "auto",
    compute_type: str = "default",
    *,
    batch_size: int | None = None,
    vad: bool = True,
) -> Transcriber:
    """A transcriber for ``backend``/``model``, loading the model only if this process has not yet.

    ``batch_size`` None: CAST_SPEECH_BATCH_SIZE (batched decoding by default; 0 = sequential).

    Raises :class:`BackendUnavailableError` with what to install or set when it cannot run here.
    """
    name, module = _backend_module(backend)
    resolved_device = module.resolve_device(device)
    resolved_compute = module.resolve_compute_type(resolved_device, compute_type)
    key = (name, model, resolved_device, resolved_compute)
    with _lock:  # a second thread asking for the same model waits instead of loading it twice
        loaded = _cache.get(key)
        if loaded is None:
            loaded = module.load_model(model, resolved_device, resolved_compute)
            _cache[key] = loaded
    transcriber: Transcriber = module.make_transcriber(
        loaded,
        model=model,
        device=resolved_device,
        compute_type=resolved_compute,
        batch_size=load_settings().speech_batch_size if batch_size is None else batch_size,
        vad=vad,
    )
    return transcriber


def transcriber_from_settings(settings: Settings, *, batch_size: int | None = None, vad: bool = True) -> Transcriber:
    """:func:`load_transcriber` with the CAST_SPEECH_* settings."""
    return load_transcriber(
        settings.speech_backend,
        settings.speech_model,
        settings.speech_device,
        settings.speech_compute_type,
        batch_size=settings.speech_batch_size if batch_size is None else batch_size,
        vad=vad,
    )


def loaded_models() -> list[tuple[str, str, str, str]]:
    """Keys of the models loaded in this process: (backend, model, device, compute type)."""
    with _lock:
        return list(_cache)


def clear_model_cache() -> None:
    """Forget loaded models (frees their memory once no transcriber refers to them)."""
    with _lock:
        _cache.clear()
