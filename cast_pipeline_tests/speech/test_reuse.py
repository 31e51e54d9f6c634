"""Finished speech is recognised from its file: same audio fingerprint, same model, a file that parses."""

from __future__ import annotations

from pathlib import Path

from cast_pipeline.segments import Segment, segments_to_json
from cast_pipeline.speech.reuse import reusable_speech

VERSION = "faster-whisper:tiny.en"


def _write(path: Path, **meta: object) -> Path:
    segments = [Segment(start=0.0, end=2.0, text="ask not what your country can do")]
    path.write_text(segments_to_json(segments, backend="faster-whisper", model="tiny.en", **meta), encoding="utf-8")
    return path


def test_same_audio_and_model_is_reused(tmp_path: Path) -> None:
    path = _write(tmp_path / "speech-local.json", audio_fingerprint="100-5", code_version=VERSION)
    done, why = reusable_speech(path, "100-5", VERSION)
    assert done is not None and why == "reused"
    assert (done.segments, done.words) == (1, 7)
    assert "same audio by the same model (faster-whisper:tiny.en)" in done.reason()


def test_files_without_code_version_are_judged_by_backend_and_model(tmp_path: Path) -> None:
    path = _write(tmp_path / "speech-local.json", audio_fingerprint="100-5")
    assert reusable_speech(path, "100-5", VERSION)[0] is not None


def test_other_audio_other_model_missing_or_broken_files_are_transcribed_again(tmp_path: Path) -> None:
    path = _write(tmp_path / "speech-local.json", audio_fingerprint="100-5", code_version=VERSION)
    assert "other audio" in reusable_speech(path, "100-6", VERSION)[1]
    assert "the model is now faster-whisper:small" in reusable_speech(path, "100-5", "faster-whisper:small")[1]
    assert reusable_speech(tmp_path / "none.json", "100-5", VERSION) == (None, "no earlier result")
    path.write_text('{"segments": [{"start": 0', encoding="utf-8")  # cut short
    done, why = reusable_speech(path, "100-5", VERSION)
    assert done is None and "does not parse" in why
    path.write_text("[1, 2]", encoding="utf-8")
    assert "does not parse" in reusable_speech(path, "100-5", VERSION)[1]
