"""pyannote and NeMo backends: everything around the model call, with stand-ins shaped like their output.

The real weights are on the Hugging Face hub (not reachable here), so the packages are replaced by
modules exposing the same entry points (``pyannote.audio.Pipeline.from_pretrained`` returning a
callable pipeline whose result has ``itertracks``; NeMo's ``SortformerEncLabelModel`` whose
``diarize`` returns ``"start end speaker_N"`` strings per file). What is tested is ours: loading and
caching, the audio handed over (16 kHz mono, WAV for NeMo), conversion to turns, labels, errors.
"""

from __future__ import annotations

import sys
import types
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from cast_pipeline.segments import Segment, Word
from cast_pipeline.speakers import hub
from cast_pipeline.speakers.align import assign_speakers
from cast_pipeline.speakers.hub import (
    HubModelUnavailableError,
    NemoDiarizer,
    PyannoteDiarizer,
    turns_from_annotation,
    turns_from_nemo,
)
from cast_pipeline.speakers.model import Turn
from cast_pipeline.speech.decode import SAMPLE_RATE
from cast_pipeline_tests.speech.audiokit import encode_audio


@dataclass
class _Span:  # pyannote.core.Segment has .start and .end
    start: float
    end: float


class _Annotation:
    """pyannote.core.Annotation's itertracks(yield_label=True): (segment, track, label), time order."""

    def __init__(self, tracks: list[tuple[float, float, str]]) -> None:
        self._tracks = tracks

    def itertracks(self, yield_label: bool = False):
        assert yield_label
        for i, (a, b, label) in enumerate(sorted(self._tracks)):
            yield _Span(a, b), chr(ord("A") + i), label


TRACKS = [(0.5, 4.0, "SPEAKER_01"), (4.2, 6.0, "SPEAKER_00"), (6.0, 9.5, "SPEAKER_01"), (8.0, 8.0, "SPEAKER_02")]


def test_pyannote_output_becomes_turns_labelled_by_first_appearance() -> None:
    turns = turns_from_annotation(_Annotation(TRACKS))
    assert turns == [Turn(0.5, 4.0, "Speaker 1"), Turn(4.2, 6.0, "Speaker 2"), Turn(6.0, 9.5, "Speaker 1")]
    wrapped = types.SimpleNamespace(speaker_diarization=_Annotation(TRACKS))  # pyannote.audio 4.x DiarizeOutput
    assert turns_from_annotation(wrapped) == turns


def test_nemo_segments_become_turns_and_garbage_is_named() -> None:
    assert turns_from_nemo(["0.00 2.50 speaker_1", "2.50 4.00 speaker_0"]) == [
        Turn(0.0, 2.5, "Speaker 1"),
        Turn(2.5, 4.0, "Speaker 2"),
    ]
    with pytest.raises(ValueError, match="unexpected NeMo diarization segment 'oops'"):
        turns_from_nemo(["oops"])


@pytest.fixture
def audio(tmp_path: Path) -> Path:
    t = np.arange(int(2.0 * SAMPLE_RATE)) / SAMPLE_RATE
    return encode_audio(
        (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), tmp_path / "a.mp3", "mp3", 44100, "mono"
    )


@pytest.fixture(autouse=True)
def _fresh_cache():
    hub._cache.clear()
    yield
    hub._cache.clear()


def test_pyannote_backend_loads_once_and_hands_over_16k_mono(monkeypatch: pytest.MonkeyPatch, audio: Path) -> None:
    calls: list[object] = []

    class Pipeline:
        @classmethod
        def from_pretrained(cls, name: str):
            calls.append(("load", name))
            return cls()

        def to(self, device):
            calls.append(("to", str(device)))
            return self

        def __call__(self, file: dict):
            calls.append(("run", tuple(file["waveform"].shape), file["sample_rate"]))
            return _Annotation([(0.0, 1.0, "SPEAKER_00"), (1.0, 2.0, "SPEAKER_01")])

    pyannote = types.ModuleType("pyannote")
    pyannote_audio = types.ModuleType("pyannote.audio")
    pyannote_audio.Pipeline = Pipeline  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pyannote", pyannote)
    monkeypatch.setitem(sys.modules, "pyannote.audio", pyannote_audio)
    diarizer = PyannoteDiarizer("", device="cpu")
    seg = Segment(0.0, 2.0, "hi there", words=(Word(0.1, 0.5, "hi"), Word(1.2, 1.6, "there")))
    for _ in range(2):
        result = diarizer.diarize(audio, [seg])
    assert calls[:2] == [("load", "pyannote/speaker-diarization-3.1"), ("to", "cpu")]
    assert [c for c in calls if c[0] == "load"] == [calls[0]]  # cached for the process
    run = calls[-1]
    assert run[0] == "run" and run[2] == SAMPLE_RATE and run[1][0] == 1 and abs(run[1][1] - 2 * SAMPLE_RATE) < 2000
    assert (result.method, result.model, result.speakers) == (
        "pyannote",
        "pyannote/speaker-diarization-3.1",
        ["Speaker 1", "Speaker 2"],
    )
    assert [s.speaker for s in assign_speakers([seg], result.turns)] == ["Speaker 1", "Speaker 2"]


def test_nemo_backend_gets_a_16k_mono_wav(monkeypatch: pytest.MonkeyPatch, audio: Path, tmp_path: Path) -> None:
    seen: dict[str, object] = {}

    class SortformerEncLabelModel:
        @classmethod
        def restore_from(cls, restore_path: str, map_location: str, strict: bool):
            seen["restore"] = (restore_path, map_location)
            return cls()

        def eval(self):
            return self

        def diarize(self, audio: list[str], batch_size: int):
            with wave.open(audio[0]) as w:
                seen["wav"] = (w.getframerate(), w.getnchannels(), w.getnframes())
            return [["0.000 1.200 speaker_0", "1.200 2.000 speaker_1"]]

    models = types.ModuleType("nemo.collections.asr.models")
    models.SortformerEncLabelModel = SortformerEncLabelModel  # type: ignore[attr-defined]
    for name in ("nemo", "nemo.collections", "nemo.collections.asr"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "nemo.collections.asr.models", models)
    result = NemoDiarizer(str(tmp_path / "diar.nemo"), device="cpu").diarize(audio, [])
    assert seen["restore"] == (str(tmp_path / "diar.nemo"), "cpu")
    rate, channels, frames = seen["wav"]  # type: ignore[misc]
    assert (rate, channels) == (SAMPLE_RATE, 1) and abs(frames - 2 * SAMPLE_RATE) < 2000
    assert result.turns == [Turn(0.0, 1.2, "Speaker 1"), Turn(1.2, 2.0, "Speaker 2")]


def test_missing_packages_say_what_to_install(monkeypatch: pytest.MonkeyPatch, audio: Path) -> None:
    monkeypatch.setitem(sys.modules, "pyannote.audio", None)  # import fails
    with pytest.raises(HubModelUnavailableError, match=r"pip install pyannote\.audio"):
        PyannoteDiarizer().diarize(audio, [])
    monkeypatch.setitem(sys.modules, "nemo.collections.asr.models", None)
    with pytest.raises(HubModelUnavailableError, match=r"pip install 'nemo_toolkit\[asr\]'"):
        NemoDiarizer().diarize(audio, [])
