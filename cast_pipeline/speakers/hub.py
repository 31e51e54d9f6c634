"""Diarization backends whose weights come from the Hugging Face hub: pyannote and NVIDIA NeMo.

They are better than an embedding-and-clustering pipeline on hard audio (overlapping speech, many
speakers) but their weights are not in any PyPI package, so they are opt-in for users who have
them: ``CAST_DIARIZATION=pyannote`` (``pip install pyannote.audio``; ``CAST_DIARIZATION_MODEL`` a
pipeline name such as ``pyannote/speaker-diarization-3.1`` with the weights in the local HF cache,
or a local ``config.yaml``), or ``CAST_DIARIZATION=nemo`` (``pip install nemo_toolkit[asr]``;
``nvidia/diar_sortformer_4spk-v1`` or a local ``.nemo`` file). Models are loaded once per process.

Both return time turns, not words; :func:`cast_pipeline.speakers.align.assign_speakers` puts each word
in the turn holding it. The conversions from their outputs (a pyannote ``Annotation``, NeMo's
``"start end speaker_N"`` strings) are plain functions, tested on outputs shaped like the real ones.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cast_pipeline.segments import Segment
from cast_pipeline.speakers.model import SpeakerResult, Turn

PYANNOTE_DEFAULT = "pyannote/speaker-diarization-3.1"
NEMO_DEFAULT = "nvidia/diar_sortformer_4spk-v1"

_lock = threading.Lock()
_cache: dict[tuple[str, str, str], Any] = {}


class HubModelUnavailableError(RuntimeError):
    """The backend's package or weights are missing; the message says what to install or set."""


def relabel(raw: Iterable[tuple[float, float, str]]) -> list[Turn]:
    """Backend labels (``SPEAKER_00``, ``speaker_1``) as ``Speaker N`` by first appearance, time order."""
    names: dict[str, str] = {}
    turns = []
    for start, end, label in sorted(raw, key=lambda r: (r[0], r[1])):
        if end <= start:
            continue
        name = names.setdefault(label, f"Speaker {len(names) + 1}")
        turns.append(Turn(float(start), float(end), name))
    return turns


def turns_from_annotation(output: Any) -> list[Turn]:
    """pyannote's result: an ``Annotation`` (pyannote.audio 3.x) or an object holding one (4.x)."""
    annotation = getattr(output, "speaker_diarization", output)
    return relabel((seg.start, seg.end, str(label)) for seg, _, label in annotation.itertracks(yield_label=True))


def turns_from_nemo(lines: Sequence[str]) -> list[Turn]:
    """NeMo Sortformer's segments for one file: ``"<start> <end> speaker_<n>"`` strings."""
    raw = []
    for line in lines:
        parts = str(line).split()
        if len(parts) != 3:
            raise ValueError(f"unexpected NeMo diarization segment {line!r} (want 'start end speaker_N')")
        raw.append((float(parts[0]), float(parts[1]), parts[2]))
    return relabel(raw)


def _cached(key: tuple[str, str, str], load: Any) -> Any:
    with _lock:
        if key not in _cache:
            _cache[key] = load()
        return _cache[key]


def _resolve_device(device: str) -> str:
    if device not in ("", "auto"):
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class PyannoteDiarizer:
    method = "pyannote"

    def __init__(self, model: str = "", device: str = "auto") -> None:
        self.model = model or PYANNOTE_DEFAULT
        self.device = device

    def _load(self) -> Any:
        try:
            import torch
            from pyannote.audio import Pipeline
        except ImportError as exc:
            raise HubModelUnavailableError(
                f"pyannote.audio is not installed ({exc}); pip install pyannote.audio, "
                "or set CAST_DIARIZATION=resemblyzer"
            ) from None
        try:
            pipeline = Pipeline.from_pretrained(self.model)
        except Exception as exc:
            raise HubModelUnavailableError(
                f"could not load pyannote pipeline {self.model!r}: {exc}. Put its weights in the Hugging Face cache "
                "(accept the model's conditions, `huggingface-cli download`) or give a local config.yaml in "
                "CAST_DIARIZATION_MODEL"
            ) from None
        if pipeline is None:  # 3.x returns None for a gated model without a token
            raise HubModelUnavailableError(
                f"pyannote pipeline {self.model!r} is gated: download it with a HF token first"
            )
        pipeline.to(torch.device(_resolve_device(self.device)))
        return pipeline

    def diarize(self, audio: Path, segments: Sequence[Segment]) -> SpeakerResult:
        import torch

        from cast_pipeline.speech.decode import SAMPLE_RATE, decode_all

        pipeline = _cached(("pyannote", self.model, self.device), self._load)
        started = time.perf_counter()
        samples = decode_all(audio)
        output = pipeline({"waveform": torch.from_numpy(samples).unsqueeze(0), "sample_rate": SAMPLE_RATE})
        turns = turns_from_annotation(output)
        return SpeakerResult(turns, self.method, self.model, samples.size / SAMPLE_RATE, time.perf_counter() - started)


class NemoDiarizer:
    method = "nemo"

    def __init__(self, model: str = "", device: str = "auto") -> None:
        self.model = model or NEMO_DEFAULT
        self.device = device

    def _load(self) -> Any:
        try:
            from nemo.collections.asr.models import SortformerEncLabelModel
        except ImportError as exc:
            raise HubModelUnavailableError(
                f"NeMo is not installed ({exc}); pip install 'nemo_toolkit[asr]', or set CAST_DIARIZATION=resemblyzer"
            ) from None
        device = _resolve_device(self.device)
        try:
            if self.model.endswith(".nemo"):
                model = SortformerEncLabelModel.restore_from(restore_path=self.model, map_location=device, strict=False)
            else:
                model = SortformerEncLabelModel.from_pretrained(self.model, map_location=device)
        except Exception as exc:
            raise HubModelUnavailableError(
                f"could not load NeMo diarization model {self.model!r}: {exc}. Download it beforehand or give a "
                "local .nemo file in CAST_DIARIZATION_MODEL"
            ) from None
        model.eval()
        return model

    def diarize(self, audio: Path, segments: Sequence[Segment]) -> SpeakerResult:
        import tempfile
        import wave

        import numpy as np

        from cast_pipeline.speech.decode import SAMPLE_RATE, decode_all

        model = _cached(("nemo", self.model, self.device), self._load)
        started = time.perf_counter()
        samples = decode_all(audio)
        with tempfile.TemporaryDirectory(prefix="cast-nemo-") as tmp:
            wav = Path(tmp) / "audio.wav"  # NeMo reads files; it wants 16 kHz mono WAV
            with wave.open(str(wav), "wb") as out:
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(SAMPLE_RATE)
                out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
            predicted = model.diarize(audio=[str(wav)], batch_size=1)
        turns = turns_from_nemo(predicted[0])
        return SpeakerResult(turns, self.method, self.model, samples.size / SAMPLE_RATE, time.perf_counter() - started)
