"""The window loop every backend shares: offsets, overlap ownership, errors, progress."""

from __future__ import annotations

from pathlib import Path

import pytest

from cast_pipeline.segments import Segment, Word
from cast_pipeline.speech.backends.base import (
    SpeechResult,
    Transcriber,
    WindowedTranscriber,
    clip_segment,
    normalize_language,
)
from cast_pipeline.speech.decode import SAMPLE_RATE, AudioWindow, WindowPlan, iter_windows
from cast_pipeline.speech.errors import TranscriptionError
from cast_pipeline.speech.guards import ScoredSegment
from cast_pipeline_tests.speech.backends.tones import detect_tones, expected_words, tone_audio
from cast_pipeline_tests.speech.conftest import write_wav

N_WORDS = 20  # 18.5 s of tone "speech"


class ToneTranscriber(WindowedTranscriber):
    """A backend whose "model" is the tone detector: one segment per word, with its word timing."""

    backend = "tones"

    def __init__(self, plan: WindowPlan, fail_at_window: int | None = None) -> None:
        super().__init__("tone-detector", "cpu", "float32")
        self.window_plan = plan
        self.fail_at_window = fail_at_window
        self.languages: list[str | None] = []

    def _transcribe_window(self, window: AudioWindow, language: str | None) -> tuple[list[ScoredSegment], str | None]:
        if window.index == self.fail_at_window:
            raise RuntimeError("CUDA out of memory")
        self.languages.append(language)
        return [
            ScoredSegment(Segment(start, end, label, words=(Word(start, end, label),)))
            for label, start, end in detect_tones(window.samples)
        ], "xx"


@pytest.fixture(scope="module")
def tones_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_wav(tone_audio(N_WORDS), tmp_path_factory.mktemp("tones") / "tones.wav")


def _assert_every_word_once_at_its_time(result: SpeechResult) -> None:
    got = [(s.text, s.start, s.end) for s in result.segments]
    assert [g[0] for g in got] == [e[0] for e in expected_words(N_WORDS)]
    for (_, start, end), (_, true_start, true_end) in zip(got, expected_words(N_WORDS), strict=True):
        assert start == pytest.approx(true_start, abs=0.002) and end == pytest.approx(true_end, abs=0.002)


def test_the_tone_detector_itself_hears_every_word(tones_wav: Path) -> None:
    result = ToneTranscriber(WindowPlan(window_seconds=60.0)).transcribe(tones_wav)
    assert len(list(iter_windows(tones_wav, WindowPlan(window_seconds=60.0)))) == 1
    _assert_every_word_once_at_its_time(result)


def _inside_a_word(t: float) -> bool:
    return any(start < t < end for _, start, end in expected_words(N_WORDS))


def test_windows_cut_in_pauses_give_every_word_once_in_episode_time(tones_wav: Path) -> None:
    plan = WindowPlan(window_seconds=5.0, cut_search_seconds=1.0)
    windows = list(iter_windows(tones_wav, plan))
    assert len(windows) == 4 and not any(_inside_a_word(w.end) for w in windows)
    assert all(4.0 <= w.duration <= 5.0 for w in windows[:-1])  # cut in the pause just before 5 s
    _assert_every_word_once_at_its_time(ToneTranscriber(plan).transcribe(tones_wav))


def test_overlapping_windows_cut_through_words_still_give_every_word_once(tones_wav: Path) -> None:
    plan = WindowPlan(window_seconds=4.3, overlap_seconds=1.5)
    windows = list(iter_windows(tones_wav, plan))
    assert sum(_inside_a_word(w.end) for w in windows[:-1]) >= 2  # some cuts land inside words
    _assert_every_word_once_at_its_time(ToneTranscriber(plan).transcribe(tones_wav))


def test_result_reports_duration_language_and_progress(tones_wav: Path) -> None:
    plan = WindowPlan(window_seconds=5.0)
    seen: list[float] = []
    transcriber = ToneTranscriber(plan)
    windows = iter_windows(tones_wav, plan)
    result = transcriber.transcribe_windows(windows, language="EN-gb", on_window=lambda w: seen.append(w.end))
    assert result.duration == pytest.approx(tone_audio(N_WORDS).size / SAMPLE_RATE)
    assert seen == sorted(seen) and seen[-1] == pytest.approx(result.duration)
    assert transcriber.languages == ["en"] * len(seen)  # normalised once, same for every window
    assert result.language == "en" and result.backend == "tones" and result.processing_seconds > 0
    assert isinstance(transcriber, Transcriber)


def test_detected_language_of_the_first_window_is_kept(tones_wav: Path) -> None:
    transcriber = ToneTranscriber(WindowPlan(window_seconds=5.0))
    result = transcriber.transcribe(tones_wav)
    assert transcriber.languages[0] is None and set(transcriber.languages[1:]) == {"xx"}
    assert result.language == "xx"


def test_a_model_failure_names_the_file_and_the_position(tones_wav: Path) -> None:
    with pytest.raises(TranscriptionError, match=r"tones \(tone-detector\) failed on .*tones\.wav at 5 s"):
        ToneTranscriber(WindowPlan(window_seconds=5.0), fail_at_window=1).transcribe(tones_wav)


def test_clip_segment_keeps_owned_words_of_a_straddling_segment() -> None:
    window = AudioWindow(offset=8.0, samples=tone_audio(1)[:0], keep_start=9.0, keep_end=20.0)
    words = (Word(8.2, 8.6, "before"), Word(8.8, 9.4, "edge"), Word(9.5, 9.9, "after"))
    clipped = clip_segment(Segment(8.2, 9.9, "before edge after.", words=words), window)
    assert clipped == Segment(8.8, 9.9, "edge after", words=words[1:])
    assert clip_segment(Segment(8.0, 8.5, "untimed"), window) is None
    assert clip_segment(Segment(9.0, 9.5, "untimed"), window) == Segment(9.0, 9.5, "untimed")


@pytest.mark.parametrize(
    ("given", "expected"), [("en-US", "en"), ("EN", "en"), ("pt_BR", "pt"), ("", None), (None, None), (" de ", "de")]
)
def test_feed_language_tags_are_normalised(given: str | None, expected: str | None) -> None:
    assert normalize_language(given) == expected
