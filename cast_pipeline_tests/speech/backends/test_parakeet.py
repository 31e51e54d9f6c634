"""Parakeet (NeMo) backend: everything around the model call, with NeMo-shaped stand-ins.

NeMo is not installed on the test machines (it is an optional extra of several GB), so the model
is replaced by a stand-in that returns what ``ASRModel.transcribe(..., timestamps=True)`` returns
in NeMo 2.x: a list of ``Hypothesis`` dataclasses whose ``timestamp`` is a dict with ``char``,
``word`` and ``segment`` lists; each entry has frame offsets (``start_offset``/``end_offset``) and
seconds (``start``/``end``), as filled in by ``nemo.collections.asr.parts.utils.timestamp_utils.
process_timestamp_outputs``. Parakeet's frames are 80 ms (10 ms hop x 8 subsampling).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cast_pipeline.segments import Segment, Word
from cast_pipeline.speech.backends.parakeet import (
    DEFAULT_MODEL,
    ParakeetTranscriber,
    first_hypothesis,
    hypothesis_to_segments,
    resolve_compute_type,
    resolve_model,
)
from cast_pipeline.speech.decode import SAMPLE_RATE, WindowPlan
from cast_pipeline.speech.errors import BackendUnavailableError
from cast_pipeline_tests.speech.backends.tones import detect_tones, expected_words, tone_audio
from cast_pipeline_tests.speech.conftest import write_wav

FRAME = 0.08


@dataclass
class Hypothesis:
    """The fields of ``nemo.collections.asr.parts.utils.rnnt_utils.Hypothesis`` that matter here."""

    score: float
    y_sequence: list[int]
    text: str | None = None
    dec_out: Any = None
    dec_state: Any = None
    timestamp: list[int] | dict[str, list[dict[str, Any]]] = field(default_factory=list)
    alignments: Any = None
    frame_confidence: Any = None
    token_confidence: Any = None
    word_confidence: Any = None
    length: int = 0


def _stamp(key: str, value: str, start: float, end: float) -> dict[str, Any]:
    return {
        key: value,
        "start_offset": round(start / FRAME),
        "end_offset": round(end / FRAME),
        "start": start,
        "end": end,
    }


def nemo_hypothesis(
    words: list[tuple[str, float, float]], sentence_ends: tuple[str, ...] = (".", "?", "!")
) -> Hypothesis:
    """A hypothesis as NeMo builds it: segments are the words up to . ? !, joined by spaces."""
    segments, current = [], []
    for word in words:
        current.append(word)
        if word[0].endswith((".", "?", "!")):
            segments.append(current)
            current = []
    if current:
        segments.append(current)
    chars = [_stamp("char", ch, s, e) for w, s, e in words for ch in [w[:1]]]
    return Hypothesis(
        score=-12.5,
        y_sequence=list(range(len(words))),
        text=" ".join(w for w, _, _ in words),
        timestamp={
            "timestep": [],
            "char": chars,
            "word": [_stamp("word", w, s, e) for w, s, e in words],
            "segment": [_stamp("segment", " ".join(w for w, _, _ in seg), seg[0][1], seg[-1][2]) for seg in segments],
        },
        length=len(words),
    )


SPOKEN = [("Hello", 0.24, 0.56), ("world.", 0.64, 1.04), ("How", 1.6, 1.76), ("are", 1.84, 1.92), ("you?", 2.0, 2.32)]


def test_nemo_segments_become_segments_with_their_words() -> None:
    segments = hypothesis_to_segments(nemo_hypothesis(SPOKEN), duration=3.0)
    assert segments == [
        Segment(0.24, 1.04, "Hello world.", words=(Word(0.24, 0.56, "Hello"), Word(0.64, 1.04, "world."))),
        Segment(
            1.6, 2.32, "How are you?", words=(Word(1.6, 1.76, "How"), Word(1.84, 1.92, "are"), Word(2.0, 2.32, "you?"))
        ),
    ]


def test_words_without_segments_are_grouped_into_sentences() -> None:
    hyp = nemo_hypothesis(SPOKEN)
    assert isinstance(hyp.timestamp, dict)
    hyp.timestamp["segment"] = []
    segments = hypothesis_to_segments(hyp, duration=3.0)
    assert [s.text for s in segments] == ["Hello world.", "How are you?"]
    assert segments[1].words[0] == Word(1.6, 1.76, "How")


def test_unpunctuated_words_split_at_long_pauses() -> None:
    words = [("so", 0.0, 0.2), ("anyway", 0.3, 0.7), ("welcome", 2.5, 2.9), ("back", 3.0, 3.2)]
    hyp = nemo_hypothesis(words)
    assert isinstance(hyp.timestamp, dict)
    hyp.timestamp["segment"] = []
    assert [s.text for s in hypothesis_to_segments(hyp, duration=4.0)] == ["so anyway", "welcome back"]


def test_without_timestamps_the_text_spans_the_window() -> None:
    hyp = Hypothesis(score=-3.0, y_sequence=[1, 2], text="hello world")  # timestamps=False: an empty list
    assert hypothesis_to_segments(hyp, duration=7.5) == [Segment(0.0, 7.5, "hello world")]
    assert hypothesis_to_segments(Hypothesis(score=0.0, y_sequence=[], text=""), duration=7.5) == []


def test_segments_whose_words_do_not_line_up_keep_their_text_without_words() -> None:
    hyp = nemo_hypothesis(SPOKEN)
    assert isinstance(hyp.timestamp, dict)
    hyp.timestamp["word"] = hyp.timestamp["word"][:-1]  # one word short of the segments' text
    segments = hypothesis_to_segments(hyp, duration=3.0)
    assert [(s.text, s.words) for s in segments] == [("Hello world.", ()), ("How are you?", ())]


def test_first_hypothesis_handles_every_return_shape_of_transcribe() -> None:
    a, b = nemo_hypothesis(SPOKEN[:2]), nemo_hypothesis(SPOKEN[2:])
    assert first_hypothesis([a, b]) is a  # NeMo 2.x
    assert first_hypothesis(([a], [[a, b]])) is a  # NeMo 1.x RNNT: (best, all)
    assert first_hypothesis([[a, b]]) is a  # all beam hypotheses
    assert first_hypothesis([]) is None


def test_model_names() -> None:
    assert resolve_model("default") == resolve_model("") == DEFAULT_MODEL
    assert resolve_model("nvidia/parakeet-tdt-0.6b-v2") == "nvidia/parakeet-tdt-0.6b-v2"
    with pytest.raises(BackendUnavailableError, match=r"'tiny\.en' is not a NeMo model.*parakeet-tdt"):
        resolve_model("tiny.en")
    with pytest.raises(BackendUnavailableError, match="does not exist"):
        resolve_model("/models/missing.nemo")


def test_local_nemo_files_are_used_as_is(tmp_path: Path) -> None:
    path = tmp_path / "my-model.nemo"
    path.write_bytes(b"\x00")
    assert resolve_model(str(path)) == str(path)


def test_compute_types() -> None:
    assert resolve_compute_type("cpu", "default") == "float32"
    assert resolve_compute_type("cuda", "default") == "bfloat16"
    assert resolve_compute_type("cuda", "float16") == "float16"
    with pytest.raises(BackendUnavailableError, match="parakeet on cpu supports compute types float32"):
        resolve_compute_type("cpu", "int8")


class StandInASRModel:
    """Answers ``transcribe`` like a NeMo ASR model, "hearing" the tone bursts of tones.py."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def transcribe(self, audio: list[np.ndarray], batch_size: int = 4, **kwargs: Any) -> list[Hypothesis]:
        self.calls.append({"n": len(audio), "dtype": audio[0].dtype, "batch_size": batch_size, **kwargs})
        heard = [(label, round(s, 2), round(e, 2)) for label, s, e in detect_tones(audio[0])]
        return [nemo_hypothesis(heard)]


def test_long_audio_in_overlapping_windows_gives_every_word_once(tmp_path: Path) -> None:
    """Parakeet's real plan is 10-minute windows with 10 s overlap; scaled down to 6 s / 2 s here."""
    path = write_wav(tone_audio(20), tmp_path / "tones.wav")
    asr = StandInASRModel()
    transcriber = ParakeetTranscriber(asr, model=DEFAULT_MODEL, device="cpu", compute_type="float32")
    assert (transcriber.window_plan.window_seconds, transcriber.window_plan.overlap_seconds) == (600.0, 10.0)
    transcriber.window_plan = WindowPlan(window_seconds=6.0, overlap_seconds=2.0)
    result = transcriber.transcribe(path, language="en")
    words = [w for s in result.segments for w in s.words]
    assert [w.text for w in words] == [label for label, _, _ in expected_words(20)]
    for word, (_, start, end) in zip(words, expected_words(20), strict=True):
        assert word.start == pytest.approx(start, abs=0.011) and word.end == pytest.approx(end, abs=0.011)
    assert len(asr.calls) == 4
    assert all(c["timestamps"] is True and c["n"] == 1 and c["dtype"] == np.float32 for c in asr.calls)
    assert result.duration == pytest.approx(tone_audio(20).size / SAMPLE_RATE)
    assert (result.backend, result.model, result.language) == ("parakeet", DEFAULT_MODEL, "en")
