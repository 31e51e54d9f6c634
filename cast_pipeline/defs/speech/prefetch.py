"""Download episodes' audio ahead of need, a few at a time, so the speech model never waits on the network.

Plain Python (no Dagster): used by the ``audio`` asset (its batch downloads up to ``workers``
episodes at once while it records them in order) and by ``cast-pipeline run`` (the next batch's
audio downloads while this batch's speech model works).

Why it is safe to fetch ahead: :func:`fetch_audio` writes ``audio.<ext>`` atomically (temp file,
then rename) and records it in ``audio.json``; whoever asks later (the ``audio`` step of the next
run) finds a complete download of the same URL and reuses it instead of fetching it again. A
prefetch that fails or is stopped leaves no file behind and no record; the ``audio`` step then
downloads (and reports) that episode itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from cast_pipeline.defs.speech.episode_audio import (
    AUDIO_STEM,
    AudioRecord,
    checked_enclosure,
    new_record,
    reusable_audio,
    save_audio_record,
)
from cast_pipeline.feeds.snapshot import load_episode
from cast_pipeline.paths import DataPaths
from cast_pipeline.settings import Settings
from cast_pipeline.speech import download_audio

DEFAULT_WORKERS = 3  # parallel downloads: enough to hide a slow host, polite to one publisher's server


def fetch_audio(paths: DataPaths, key: str, settings: Settings, client: httpx.Client) -> tuple[AudioRecord, bool]:
    """The episode's audio record, downloading it unless a complete download of its URL exists.

    Returns ``(record, reused)``. Raises :class:`AudioNotAllowedError` or ``DownloadError`` naming
    the episode or URL.
    """
    url = checked_enclosure(load_episode(paths, key))
    record = reusable_audio(paths, key, url)
    if record is not None:
        return record, True
    got = download_audio(url, paths.episode_dir(key), settings=settings, stem=AUDIO_STEM, client=client)
    record = new_record(got.path, url, got.format, got.content_type)
    save_audio_record(paths, key, record)
    return record, False


@dataclass
class PrefetchStats:
    downloaded: int = 0
    reused: int = 0
    skipped: int = 0  # not needed (ready-made transcript, awaiting one) or stopped
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


class AudioPrefetch:
    """Fetches the audio of ``keys`` with ``workers`` threads, in key order; ``result(key)`` waits for one.

    ``wanted(key)`` decides whether an episode needs audio at all (the caller's transcript-first
    rules); unwanted keys are never fetched. Its calls are serialised (it may consult providers
    with their own caches and rate limits); only the downloads run in parallel. ``stop()`` lets
    downloads in flight finish (they are atomic) and cancels the rest.
    """

    def __init__(
        self,
        paths: DataPaths,
        keys: Sequence[str],
        settings: Settings,
        client: httpx.Client,
        *,
        wanted: Callable[[str], bool] = lambda _key: True,
        workers: int | None = None,
    ) -> None:
        self.stats = PrefetchStats()
        self._paths, self._settings, self._client, self._wanted = paths, settings, client, wanted
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._wanted_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max(1, workers or DEFAULT_WORKERS), thread_name_prefix="audio-prefetch")
        self._started = time.perf_counter()
        self._futures: dict[str, Future[tuple[AudioRecord, bool] | None]] = {
            key: self._pool.submit(self._fetch, key) for key in dict.fromkeys(keys)
        }

    def _fetch(self, key: str) -> tuple[AudioRecord, bool] | None:
        with self._wanted_lock:
            skip = self._stopped.is_set() or not self._wanted(key)
        if skip:
            with self._lock:
                self.stats.skipped += 1
            return None
        try:
            record, reused = fetch_audio(self._paths, key, self._settings, self._client)
        except Exception as exc:
            with self._lock:
                self.stats.failed[key] = f"{type(exc).__name__}: {exc}"
            raise
        with self._lock:
            if reused:
                self.stats.reused += 1
            else:
                self.stats.downloaded += 1
        return record, reused

    def result(self, key: str) -> tuple[AudioRecord, bool] | None:
        """Wait for ``key``'s fetch: ``(record, reused)``, None if it was not wanted; raises its error."""
        return self._futures[key].result()

    def stop(self) -> None:
        self._stopped.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def wait(self) -> PrefetchStats:
        """Let every fetch finish (errors are kept in ``stats.failed``, not raised)."""
        self._pool.shutdown(wait=True)
        self.stats.seconds = time.perf_counter() - self._started
        return self.stats

    def __enter__(self) -> AudioPrefetch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
