"""transcribe_files: one model, many files, errors per file, decoding ahead of the model."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from cast_pipeline.speech import transcribe as transcribe_module
from cast_pipeline.speech.backends.base import SpeechResult, Transcriber, WindowCallback
from cast_pipeline.speech.decode import AudioWindow, WindowPlan
from cast_pipeline.speech.errors import AudioError, UnsupportedLanguageError
from cast_pipeline.speech.transcribe import Progress, transcribe_files
from cast_pipeline.speech.wer import wer


def _reference(wav: Path) -> str:
    return wav.with_suffix(".txt").read_text(encoding="utf-8")


def test_a_batch_with_broken_files_transcribes_the_good_ones_in_order(
    tiny: Transcriber, audio_dir: Path, jfk_variants: dict[str, Path], tmp_path: Path
) -> None:
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    clip = audio_dir / "librivox-sense-and-sensibility-0930.wav"
    paths = [audio_dir / "jfk.wav", audio_dir / "bad" / "null.wav", clip, empty, jfk_variants["mp3"]]
    events: list[Progress] = []
    results = list(transcribe_files(paths, tiny, on_progress=events.append))

    assert [p for p, _ in results] == paths
    outcomes = [o for _, o in results]
    assert isinstance(outcomes[1], AudioError) and "null.wav" in str(outcomes[1])
    assert isinstance(outcomes[3], AudioError) and "empty.mp3 is empty" in str(outcomes[3])
    good = {0: audio_dir / "jfk.wav", 2: clip, 4: audio_dir / "jfk.wav"}
    for i, reference in good.items():
        result = outcomes[i]
        assert isinstance(result, SpeechResult)
        assert wer(_reference(reference), result.text) <= 0.05

    finished = [e for e in events if e.finished]
    assert [(e.index, e.total, e.path) for e in finished] == [(i, 5, p) for i, p in enumerate(paths)]
    assert [e.error is not None for e in finished] == [False, True, False, True, False]
    assert any(not e.finished and e.path == clip and e.seconds_done > 3.0 for e in events)  # per window


def test_a_file_the_model_refuses_does_not_stop_the_next(tiny: Transcriber, audio_dir: Path) -> None:
    """A per-file language the English-only model cannot do fails that file only (keeping its
    error type); its decoded windows are skipped so the next file starts at its own beginning."""
    jfk, clip = audio_dir / "jfk.wav", audio_dir / "librivox-sense-and-sensibility-0890.wav"
    (_, refused), (_, ok) = transcribe_files([jfk, clip], tiny, languages={jfk: "de-DE"}, language="en")
    assert isinstance(refused, UnsupportedLanguageError) and str(jfk) in str(refused) and "'de-DE'" in str(refused)
    assert isinstance(ok, SpeechResult) and ok.language == "en"
    assert wer(_reference(clip), ok.text) <= 0.05 and ok.duration == pytest.approx(5.3, abs=0.01)


class SlowModel:
    """A Transcriber whose "model" takes a fixed time per window, recording when each file ran."""

    backend, model, device, compute_type = "slow", "sleep", "cpu", "none"
    window_plan = WindowPlan(window_seconds=600.0)

    def __init__(self, seconds_per_window: float) -> None:
        self.seconds = seconds_per_window
        self.spans: list[tuple[str, float, float]] = []

    def transcribe(self, audio_path: Path, *, language: str | None = None) -> SpeechResult:
        raise NotImplementedError

    def transcribe_windows(
        self,
        windows: Iterable[AudioWindow],
        *,
        language: str | None = None,
        source: str = "",
        on_window: WindowCallback | None = None,
    ) -> SpeechResult:
        started = time.perf_counter()
        duration = 0.0
        for window in windows:
            time.sleep(self.seconds)
            duration = window.end
        self.spans.append((Path(source).name, started, time.perf_counter()))
        return SpeechResult([], None, duration, self.model, self.backend, self.device, self.compute_type, 0.0)


def test_the_next_file_is_decoded_while_the_model_works(
    monkeypatch: pytest.MonkeyPatch, audio_dir: Path, jfk_variants: dict[str, Path]
) -> None:
    decode_started: dict[str, float] = {}
    real_iter_windows = transcribe_module.iter_windows

    def recording_iter_windows(path: Path, plan: WindowPlan) -> Iterator[AudioWindow]:
        decode_started[path.name] = time.perf_counter()
        yield from real_iter_windows(path, plan)

    monkeypatch.setattr(transcribe_module, "iter_windows", recording_iter_windows)
    model = SlowModel(seconds_per_window=0.3)
    paths = [jfk_variants["mp3"], jfk_variants["m4a"], jfk_variants["opus"]]
    assert all(isinstance(o, SpeechResult) for _, o in transcribe_files(paths, model))
    for (name, _, model_done), following in zip(model.spans, paths[1:], strict=False):
        assert decode_started[following.name] < model_done, f"{following.name} waited for {name}"


def test_abandoning_the_iteration_stops_the_prefetch_thread(tiny: Transcriber, audio_dir: Path) -> None:
    paths = [audio_dir / "librivox-sense-and-sensibility-0880.wav"] * 4
    iterator = transcribe_files(paths, tiny)
    _, outcome = next(iterator)
    assert isinstance(outcome, SpeechResult)
    iterator.close()
    assert not any(t.name == "speech-prefetch" and t.is_alive() for t in threading.enumerate())


def test_no_files_no_results(tiny: Transcriber) -> None:
    assert list(transcribe_files([], tiny)) == []
