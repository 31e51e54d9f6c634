"""Speech layer: download audio, decode it, transcribe it with a cached model (no Dagster here).

Typical use (what the Dagster speech asset and the ``transcribe`` CLI do)::

    transcriber = load_transcriber("faster-whisper", "tiny.en")  # loaded once per process
    for path, outcome in transcribe_files(paths, transcriber):
        ...  # a SpeechResult, or the exception that file raised

Heavy modules (faster-whisper, NeMo, MLX) are imported only when a backend is loaded.
"""

from __future__ import annotations

from cast_pipeline.speech.audio import AudioFile, download_audio
from cast_pipeline.speech.backends import (
    SpeechResult,
    Transcriber,
    clear_model_cache,
    load_transcriber,
    loaded_models,
    transcriber_from_settings,
)
from cast_pipeline.speech.decode import SAMPLE_RATE, AudioWindow, WindowPlan, iter_chunks, iter_windows, probe_duration
from cast_pipeline.speech.errors import (
    AudioError,
    BackendUnavailableError,
    DownloadError,
    SpeechError,
    TranscriptionError,
    UnsupportedLanguageError,
)
from cast_pipeline.speech.transcribe import Progress, transcribe_files

__all__ = [
    "SAMPLE_RATE",
    "AudioError",
    "AudioFile",
    "AudioWindow",
    "BackendUnavailableError",
    "DownloadError",
    "Progress",
    "SpeechError",
    "SpeechResult",
    "Transcriber",
    "TranscriptionError",
    "UnsupportedLanguageError",
    "WindowPlan",
    "clear_model_cache",
    "download_audio",
    "iter_chunks",
    "iter_windows",
    "load_transcriber",
    "loaded_models",
    "probe_duration",
    "transcribe_files",
    "transcriber_from_settings",
]
