"""mlx-whisper backend: conversion of its result dict, and the window loop with a stand-in module.

MLX exists only on Apple Silicon, so the module is replaced by a stand-in whose ``transcribe``
returns the dict ``mlx_whisper.transcribe`` returns (openai-whisper's shape): ``text``,
``language`` and ``segments``, each segment with ``id, seek, start, end, text, tokens, temperature,
avg_logprob, compression_ratio, no_speech_prob`` and, with ``word_timestamps=True``, ``words`` of
``{word, start, end, probability}`` whose text keeps Whisper's leading space. Instantaneous or empty
segments are blanked (``text`` "", ``words`` []) rather than removed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cast_pipeline.segments import Segment, Word
from cast_pipeline.speech.backends.mlx import (
    MODEL_REPOS,
    MlxModel,
    MlxWhisperTranscriber,
    resolve_compute_type,
    resolve_device,
    resolve_model,
    result_to_scored,
)
from cast_pipeline.speech.decode import WindowPlan
from cast_pipeline.speech.errors import BackendUnavailableError


def _segment(i: int, start: float, end: float, words: list[tuple[str, float, float, float]], **scores: Any) -> dict:
    return {
        "id": i,
        "seek": int(start * 100),
        "start": start,
        "end": end,
        "text": "".join(w for w, _, _, _ in words),
        "tokens": list(range(50364, 50364 + len(words))),
        "temperature": 0.0,
        "avg_logprob": scores.get("avg_logprob", -0.25),
        "compression_ratio": scores.get("compression_ratio", 1.3),
        "no_speech_prob": scores.get("no_speech_prob", 0.02),
        "words": [{"word": w, "start": s, "end": e, "probability": p} for w, s, e, p in words],
    }


JFK_RESULT = {
    "text": " And so, my fellow Americans ask not",
    "language": "en",
    "segments": [
        _segment(0, 0.0, 1.06, [(" And", 0.0, 0.74, 0.67), (" so,", 0.74, 1.06, 0.97)]),
        _segment(
            1, 1.38, 3.88, [(" my", 1.38, 1.42, 0.97), (" fellow", 1.42, 1.76, 0.99), (" Americans", 1.76, 2.26, 0.9)]
        ),
        {**_segment(2, 3.88, 3.88, []), "text": "", "tokens": []},  # blanked instantaneous segment
        _segment(3, 3.88, 4.56, [(" ask", 3.88, 4.2, 0.8), (" not", 4.2, 4.56, 0.95)]),
    ],
}


def test_result_dict_becomes_segments_with_words_and_scores() -> None:
    scored = result_to_scored(JFK_RESULT)
    assert [s.segment.text for s in scored] == ["And so,", "my fellow Americans", "ask not"]
    assert scored[0].segment == Segment(
        0.0, 1.06, "And so,", words=(Word(0.0, 0.74, "And", 0.67), Word(0.74, 1.06, "so,", 0.97))
    )
    assert (scored[1].no_speech_prob, scored[1].avg_logprob) == (0.02, -0.25)


def test_results_without_word_timestamps_still_convert() -> None:
    seg = {k: v for k, v in _segment(0, 0.0, 2.0, [(" Hi", 0.0, 0.5, 0.9)]).items() if k != "words"}
    assert result_to_scored({"segments": [seg], "language": "en"})[0].segment == Segment(0.0, 2.0, "Hi")


class StandInMlxWhisper:
    """The ``mlx_whisper`` module's ``transcribe``: JFK's opening in the first window, then a
    "Thank you." hallucination over silence (high no-speech probability, low confidence)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def transcribe(self, audio: np.ndarray, **kwargs: Any) -> dict[str, Any]:
        self.calls.append({"samples": audio.size, "dtype": audio.dtype, **kwargs})
        if len(self.calls) == 1:
            return JFK_RESULT
        thanks = _segment(0, 0.5, 1.5, [(" Thank", 0.5, 0.9, 0.3), (" you.", 0.9, 1.5, 0.2)])
        return {
            "text": " Thank you.",
            "language": "en",
            "segments": [{**thanks, "no_speech_prob": 0.92, "avg_logprob": -1.4}],
        }


def test_windows_are_offset_and_hallucinations_over_silence_dropped(jfk_wav: Path) -> None:
    module = StandInMlxWhisper()
    loaded = MlxModel(module, MODEL_REPOS["tiny.en"])
    transcriber = MlxWhisperTranscriber(loaded, model="tiny.en", device="metal", compute_type="float16")
    transcriber.window_plan = WindowPlan(window_seconds=6.0)  # 11 s of audio: two windows
    result = transcriber.transcribe(jfk_wav, language="en-US")
    assert [s.text for s in result.segments] == ["And so,", "my fellow Americans", "ask not"]
    assert result.dropped_segments == 1 and result.duration == pytest.approx(11.0)
    first, second = module.calls
    assert first["path_or_hf_repo"] == "mlx-community/whisper-tiny.en-mlx"
    assert (first["word_timestamps"], first["language"], first["fp16"], first["dtype"]) == (
        True,
        "en",
        True,
        np.float32,
    )
    assert first["samples"] == 6 * 16_000 and second["samples"] == 5 * 16_000


def test_model_names_map_to_mlx_community_conversions(tmp_path: Path) -> None:
    assert resolve_model("tiny.en") == "mlx-community/whisper-tiny.en-mlx"
    assert resolve_model("default") == resolve_model("large-v3-turbo") == "mlx-community/whisper-large-v3-turbo"
    assert resolve_model("someone/whisper-small-mlx") == "someone/whisper-small-mlx"
    assert resolve_model(str(tmp_path)) == str(tmp_path)


def test_devices_and_compute_types() -> None:
    assert resolve_device("auto") == "metal"
    with pytest.raises(BackendUnavailableError, match="Apple GPU, not 'cuda'"):
        resolve_device("cuda")
    assert resolve_compute_type("metal", "default") == "float16"
    with pytest.raises(BackendUnavailableError, match="float16 or float32, not 'int8'"):
        resolve_compute_type("metal", "int8")
