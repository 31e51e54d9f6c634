"""The ``audio`` asset's work for one run's batch, shared by the ``audio`` asset and the single machine's
audio+speech step (cast_pipeline.defs.speech.overlap).

Why a class and not the asset body: on one machine the same downloads must run in the same step as
the speech model (issue 8), so both asset definitions build their per-episode work from here instead
of repeating it. Downloads run a few at a time in the background (:class:`AudioPrefetch`), started
when the batch starts; :meth:`AudioStep.work` waits for one episode's and describes it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import dagster as dg

from cast_pipeline.defs.speech.episode_audio import AudioRecord
from cast_pipeline.defs.speech.prefetch import AudioPrefetch
from cast_pipeline.feeds.snapshot import load_episode
from cast_pipeline.http import make_client
from cast_pipeline.paths import DataPaths
from cast_pipeline.settings import Settings
from cast_pipeline.speech import AudioError, probe_duration
from cast_pipeline.speech.audio import audio_user_agent
from cast_pipeline.transcripts.awaiting import awaiting_reason
from cast_pipeline.transcripts.providers import ready_made

NOT_NEEDED = "not_needed"
DOWNLOADED = "downloaded"


class AudioStep:
    """Downloads the audio of ``keys`` (transcript-first) while the caller records them in order.

    Use as ``with step.fetching(): ... step.work(key) ...``. ``wanted`` runs on the download threads:
    an episode with a ready-made transcript (or one still awaited) is never fetched, and is recorded
    with the reason instead.
    """

    def __init__(self, paths: DataPaths, settings: Settings, keys: Sequence[str], log: logging.Logger) -> None:
        self.paths, self.settings, self.keys, self.log = paths, settings, list(keys), log
        self.skipped: dict[str, dict[str, Any]] = {}  # episodes that need no audio, with the reason
        self._prefetch: AudioPrefetch | None = None

    def wanted(self, key: str) -> bool:
        ep = load_episode(self.paths, key)
        found = ready_made(self.paths, key, asked=True)  # publisher, Pocket Casts... (transcripts.providers)
        if found is not None:
            reason = f"{found.provider} transcript found ({found.source})"
            self.skipped[key] = {"title": ep.title, "status": NOT_NEEDED, "reason": reason}
        elif waiting := awaiting_reason(self.paths, key):  # a young episode: its transcript may still come
            self.skipped[key] = {"title": ep.title, "status": "awaiting_transcript", "reason": waiting}
        return key not in self.skipped

    @contextmanager
    def fetching(self) -> Iterator[AudioStep]:
        """Start every download of the batch; on leaving, cancel those not started (the rest are atomic)."""
        settings = self.settings
        with (
            make_client(settings, user_agent=audio_user_agent(settings)) as client,
            AudioPrefetch(self.paths, self.keys, settings, client, wanted=self.wanted) as prefetch,
        ):
            self._prefetch = prefetch
            try:
                yield self
            finally:
                self._prefetch = None

    def stop(self) -> None:
        """Cancel the downloads not started yet (whoever waits for one gets CancelledError)."""
        if self._prefetch is not None:
            self._prefetch.stop()

    def fetched(self, key: str) -> tuple[AudioRecord, bool] | None:
        """Wait for ``key``'s download: ``(record, reused)``, None when not needed; raises its error."""
        if self._prefetch is None:
            raise RuntimeError("AudioStep.fetched outside `with step.fetching()`")
        return self._prefetch.result(key)

    def work(self, key: str) -> dict[str, Any]:
        """The episode's ``audio`` metadata once its download has ended (per_episode's work)."""
        fetched = self.fetched(key)
        if fetched is None:
            return self.skipped[key]
        record, reused = fetched
        ep = load_episode(self.paths, key)
        url = record.url
        path = self.paths.episode_file(key, record.file)
        try:
            duration: float | None = round(probe_duration(path), 3)
        except AudioError as exc:  # the speech step reports undecodable audio for this episode
            self.log.warning(f"episode {key}: could not read the duration of {path}: {exc}")
            duration = None
        self.log.info(
            f"episode {key} ({ep.title!r}): audio {'reused' if reused else 'downloaded'}, "
            f"{record.bytes} bytes {record.format}"
        )
        return {
            "title": ep.title,
            "status": DOWNLOADED,
            "reused": reused,
            "url": dg.MetadataValue.url(url) if url.startswith("http") else url,
            "file": str(path),
            "bytes": record.bytes,
            "format": record.format,
            "content_type": record.content_type or "unknown",
            "duration_seconds": duration if duration is not None else "unknown",
            "fingerprint": record.fingerprint,
        }
