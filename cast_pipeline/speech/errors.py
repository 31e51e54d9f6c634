"""Exceptions of the speech layer.

Why a small hierarchy: callers (the Dagster speech asset, the ``transcribe`` CLI) must tell apart
"this episode's audio is broken" (record it and move on), "retry later" (a 503 from the host) and
"this machine cannot run that backend" (a configuration error that fails every episode the same way).
Every message names the file or URL involved and says what to do.
"""

from __future__ import annotations


class SpeechError(Exception):
    """Base class of every error raised by :mod:`cast_pipeline.speech`."""


class AudioError(SpeechError):
    """Audio could not be downloaded, recognised or decoded (bad file, HTML page, too large...)."""


class DownloadError(AudioError):
    """An audio URL could not be fetched.

    ``permanent`` is True when retrying later cannot help (404, 410, other 4xx, not audio, too
    large); False for exhausted retries on 429/5xx or network errors, which a later run may fix.
    """

    def __init__(self, url: str, reason: str, *, status: int | None = None, permanent: bool = True) -> None:
        super().__init__(f"could not download audio from {url}: {reason}")
        self.url = url
        self.reason = reason
        self.status = status
        self.permanent = permanent


class BackendUnavailableError(SpeechError):
    """A speech backend cannot run here (package missing, wrong platform, model not found)."""


class UnsupportedLanguageError(SpeechError):
    """The requested language cannot be transcribed by the loaded model (e.g. German with tiny.en)."""


class TranscriptionError(SpeechError):
    """A model failed on one file; wraps the original exception with the file's name."""
