"""Transcribe many audio files with one loaded model, decoding ahead in a background thread.

This is the function the ``cast-pipeline transcribe`` CLI and the Dagster speech asset call.
Why a prefetch thread: decoding (PyAV) and the model (CTranslate2, torch, MLX) both release the
GIL, so while the model works on one window the next window — of this file or the next one — is
already being decoded. A bounded queue keeps at most ``prefetch_windows`` decoded windows waiting,
so memory stays bounded on long episodes. Why results are yielded per file, errors included: one
broken file must not stop a run over a hundred episodes; the caller records the error and goes on.
Why ``paths`` may be a lazy iterable: a Dagster step that downloads and transcribes a batch hands over
each file as its download ends, so the decode thread waits for the network, not the model.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from dataclasses import dataclass
from pathlib import Path

from cast_pipeline.speech.backends.base import SpeechResult, Transcriber
from cast_pipeline.speech.decode import AudioWindow, WindowPlan, iter_windows
from cast_pipeline.speech.errors import SpeechError, TranscriptionError


@dataclass(frozen=True)
class Progress:
    """Where a run stands; passed to ``on_progress`` after every window and after every file."""

    index: int  # 0-based position of the current file
    total: int  # number of files (0: not known yet, the paths come from a lazy iterable)
    path: Path
    seconds_done: float  # audio seconds of this file transcribed so far
    finished: bool = False  # True once the file's result (or error) is known
    error: Exception | None = None


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class _Start:
    path: Path


@dataclass(frozen=True)
class _Window:
    window: AudioWindow


@dataclass(frozen=True)
class _End:
    error: Exception | None


@dataclass(frozen=True)
class _Finished:
    """No more files; ``error``: the paths iterable itself raised (the caller's bug, raised in the caller)."""

    error: Exception | None


_Item = _Start | _Window | _End | _Finished


class _Prefetcher:
    """Decodes the windows of ``paths`` in order on a daemon thread into a bounded queue."""

    def __init__(self, paths: Iterable[Path], plan: WindowPlan, depth: int) -> None:
        self._paths = paths
        self._plan = plan
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="speech-prefetch", daemon=True)

    def start(self) -> _Prefetcher:
        self._thread.start()
        return self

    def _put(self, item: _Item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for path in self._paths:  # a lazy iterable may block here, e.g. until a download ends
                if not self._decode(Path(path)):
                    return
        except Exception as exc:
            self._put(_Finished(exc))
            return
        self._put(_Finished(None))

    def _decode(self, path: Path) -> bool:
        """Queue the file's start, windows and end; False once stopped."""
        if not self._put(_Start(path)):
            return False
        error: Exception | None = None
        try:
            for window in iter_windows(path, self._plan):
                if not self._put(_Window(window)):
                    return False
        except Exception as exc:  # reported with the file, the next file still runs
            error = exc
        return self._put(_End(error))

    def get(self) -> _Item:
        return self._queue.get()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _named(path: Path, exc: Exception) -> Exception:
    """``exc`` if it already names the file, else one that does.

    Our own message-only errors keep their type (a caller may treat UnsupportedLanguageError
    differently from a broken file); anything else becomes a TranscriptionError.
    """
    if str(path) in str(exc):
        return exc
    if isinstance(exc, SpeechError) and type(exc).__init__ is Exception.__init__:
        named: Exception = type(exc)(f"{path}: {exc}")
    else:
        named = TranscriptionError(f"{path}: {type(exc).__name__}: {exc}")
    named.__cause__ = exc
    return named


def transcribe_files(
    paths: Iterable[Path],
    transcriber: Transcriber,
    *,
    language: str | None = None,
    languages: Mapping[Path, str | None] | None = None,
    on_progress: ProgressCallback | None = None,
    prefetch_windows: int = 2,
) -> Iterator[tuple[Path, SpeechResult | Exception]]:
    """Yield ``(path, SpeechResult)`` for each file in order, or ``(path, exception)`` when it failed.

    ``paths`` is a list, or a lazy iterable consumed on the decode thread (it may block until the next
    file exists; ``languages`` is read for a file only once the iterable has yielded it, so it may be
    filled in as it goes). ``languages`` overrides ``language`` per file (e.g. each episode's feed
    language). The generator may be abandoned early; the prefetch thread is then stopped.
    """
    total = len(paths) if isinstance(paths, Sized) else 0
    prefetcher = _Prefetcher(paths, transcriber.window_plan, prefetch_windows).start()
    try:
        index = 0
        while not isinstance(start := prefetcher.get(), _Finished):
            assert isinstance(start, _Start)
            path = start.path
            lang = languages.get(path, language) if languages is not None else language
            outcome = _transcribe_one(prefetcher, index, total, path, transcriber, lang, on_progress)
            if on_progress is not None:
                error = outcome if isinstance(outcome, Exception) else None
                done = outcome.duration if isinstance(outcome, SpeechResult) else 0.0
                on_progress(Progress(index, total, path, done, finished=True, error=error))
            yield path, outcome
            index += 1
        if start.error is not None:
            raise start.error
    finally:
        prefetcher.close()


def _transcribe_one(
    prefetcher: _Prefetcher,
    index: int,
    total: int,
    path: Path,
    transcriber: Transcriber,
    language: str | None,
    on_progress: ProgressCallback | None,
) -> SpeechResult | Exception:
    decode_error: list[Exception] = []
    ended = False

    def windows() -> Iterator[AudioWindow]:
        nonlocal ended
        while True:
            item = prefetcher.get()
            if isinstance(item, _End):
                ended = True
                if item.error is not None:
                    decode_error.append(item.error)
                    raise item.error
                return
            assert isinstance(item, _Window)
            yield item.window

    def window_done(window: AudioWindow) -> None:
        if on_progress is not None:
            on_progress(Progress(index, total, path, window.end))

    try:
        return transcriber.transcribe_windows(windows(), language=language, source=str(path), on_window=window_done)
    except Exception as exc:
        return _named(path, decode_error[0] if decode_error else exc)
    finally:
        while not ended:  # the model failed mid-file: skip the rest of this file's windows
            if isinstance(prefetcher.get(), _End):
                ended = True
