"""NVIDIA Parakeet (NeMo) backend, for CUDA machines: fast and accurate English/European ASR.

Choices and why:
- Model: a NeMo name (``nvidia/parakeet-tdt-0.6b-v3``, also what ``default`` means) loaded with
  ``ASRModel.from_pretrained``, or a local ``.nemo`` file loaded with ``ASRModel.restore_from``.
  Whisper names such as ``tiny.en`` are rejected with a hint, not silently swapped.
- Long audio: Parakeet's full attention grows quadratically with length, so episodes are cut into
  10-minute windows overlapping by 10 s (see :mod:`cast_pipeline.speech.decode`); each window is
  transcribed with ``timestamps=True`` and words in the overlap are kept from the window that owns
  their midpoint (:func:`cast_pipeline.speech.backends.base.clip_segment`). Local attention is
  switched on where the model supports it, which bounds memory further.
- Timestamps: NeMo returns ``Hypothesis`` objects whose ``timestamp`` dict holds ``word`` and
  ``segment`` lists of ``{"word"|"segment", "start_offset", "end_offset", "start", "end"}`` (seconds
  in ``start``/``end``); :func:`hypothesis_to_segments` turns one into our Segments.
- NeMo is an optional extra (``pip install 'cast-pipeline[parakeet]'``), imported only here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from cast_pipeline.segments import Segment, Word
from cast_pipeline.speech.backends.base import WindowedTranscriber
from cast_pipeline.speech.decode import AudioWindow, WindowPlan
from cast_pipeline.speech.errors import BackendUnavailableError
from cast_pipeline.speech.guards import ScoredSegment

DEFAULT_MODEL = "nvidia/parakeet-tdt-0.6b-v3"
INSTALL_HINT = "install cast-pipeline[parakeet] (pip install 'cast-pipeline[parakeet]', which brings nemo_toolkit[asr])"
_SENTENCE_END = (".", "?", "!")
_MAX_SEGMENT_WORDS = 40
_SEGMENT_GAP = 1.0  # seconds of silence that end a segment when NeMo gives words but no segments


def _import_nemo_asr() -> Any:
    try:
        import nemo.collections.asr as nemo_asr
    except ImportError as exc:
        raise BackendUnavailableError(f"the parakeet backend needs NVIDIA NeMo: {INSTALL_HINT} ({exc})") from None
    return nemo_asr


def resolve_model(name: str) -> str:
    name = name.strip()
    if name in ("", "default"):
        return DEFAULT_MODEL
    if name.endswith(".nemo"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise BackendUnavailableError(f"NeMo model file {path} does not exist; check CAST_SPEECH_MODEL")
        return str(path)
    if "/" not in name:
        raise BackendUnavailableError(
            f"{name!r} is not a NeMo model; set CAST_SPEECH_MODEL to e.g. {DEFAULT_MODEL} or a .nemo file"
        )
    return name


def resolve_device(device: str) -> str:
    device = (device or "auto").strip().lower()
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_compute_type(device: str, compute_type: str) -> str:
    compute_type = (compute_type or "default").strip().lower()
    if compute_type == "default":
        return "bfloat16" if device == "cuda" else "float32"
    if compute_type not in ("float32", "float16", "bfloat16") or (device == "cpu" and compute_type != "float32"):
        raise BackendUnavailableError(
            f"parakeet on {device} supports compute types float32{'' if device == 'cpu' else ', float16, bfloat16'}, "
            f"not {compute_type!r}; set CAST_SPEECH_COMPUTE_TYPE"
        )
    return compute_type


def load_model(model: str, device: str, compute_type: str) -> Any:
    nemo_asr = _import_nemo_asr()
    target = resolve_model(model)
    try:
        if target.endswith(".nemo"):
            asr = nemo_asr.models.ASRModel.restore_from(target, map_location=device)
        else:
            asr = nemo_asr.models.ASRModel.from_pretrained(model_name=target, map_location=device)
    except Exception as exc:
        raise BackendUnavailableError(f"could not load NeMo model {target!r} on {device}: {exc}") from None
    asr.eval()
    with contextlib.suppress(Exception):  # not every NeMo model has a local-attention variant
        asr.change_attention_model("rel_pos_local_attn", [256, 256])
        asr.change_subsampling_conv_chunking_factor(1)
    return asr


def _segment_word_counts(segments: Sequence[dict[str, Any]]) -> Iterator[int]:
    for seg in segments:  # NeMo joins a segment's words with single spaces
        yield len(str(seg.get("segment", "")).split())


def _group_words(words: list[Word]) -> list[Segment]:
    """Sentence-like segments from words alone: end at . ? !, a long pause, or 40 words."""
    out: list[Segment] = []
    current: list[Word] = []
    for word in words:
        if current and (word.start - current[-1].end > _SEGMENT_GAP or len(current) >= _MAX_SEGMENT_WORDS):
            out.append(_segment_of(current))
            current = []
        current.append(word)
        if word.text.endswith(_SENTENCE_END):
            out.append(_segment_of(current))
            current = []
    if current:
        out.append(_segment_of(current))
    return out


def _segment_of(words: Sequence[Word], text: str | None = None) -> Segment:
    body = text if text is not None else " ".join(w.text for w in words)
    return Segment(words[0].start, words[-1].end, body.strip(), words=tuple(words))


def hypothesis_to_segments(hypothesis: Any, duration: float) -> list[Segment]:
    """Segments (window time) of one NeMo ``Hypothesis`` produced with ``timestamps=True``.

    Uses NeMo's segments with their words when both are present, words grouped into sentences when
    only words are, and one untimed segment spanning ``duration`` when there are no timestamps.
    """
    stamps = getattr(hypothesis, "timestamp", None)
    stamps = stamps if isinstance(stamps, dict) else {}
    words = [
        Word(float(w["start"]), float(w["end"]), str(w["word"]).strip())
        for w in stamps.get("word") or ()
        if str(w.get("word", "")).strip()
    ]
    nemo_segments = [s for s in stamps.get("segment") or () if str(s.get("segment", "")).strip()]
    if nemo_segments and words and sum(_segment_word_counts(nemo_segments)) == len(words):
        out: list[Segment] = []
        position = 0
        for seg, count in zip(nemo_segments, _segment_word_counts(nemo_segments), strict=True):
            own = words[position : position + count]
            position += count
            out.append(Segment(float(seg["start"]), float(seg["end"]), str(seg["segment"]).strip(), words=tuple(own)))
        return out
    if nemo_segments:
        return [Segment(float(s["start"]), float(s["end"]), str(s["segment"]).strip()) for s in nemo_segments]
    if words:
        return _group_words(words)
    text = str(getattr(hypothesis, "text", "") or "").strip()
    return [Segment(0.0, duration, text)] if text else []


def first_hypothesis(output: Any) -> Any:
    """The best hypothesis of the first input, across NeMo's return shapes.

    NeMo 2.x returns ``list[Hypothesis]``; RNNT models of NeMo 1.x returned ``(best, all)``; beam
    search with all hypotheses gives ``list[list[Hypothesis]]``.
    """
    if isinstance(output, tuple):
        output = output[0]
    first = output[0] if output else None
    if isinstance(first, list):
        first = first[0] if first else None
    return first


class ParakeetTranscriber(WindowedTranscriber):
    backend = "parakeet"
    window_plan = WindowPlan(window_seconds=600.0, overlap_seconds=10.0, cut_search_seconds=0.0)

    def __init__(self, asr: Any, *, model: str, device: str, compute_type: str) -> None:
        super().__init__(model, device, compute_type)
        self.asr = asr

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.device != "cuda" or self.compute_type == "float32":
            return contextlib.nullcontext()
        import torch

        return torch.autocast("cuda", dtype=getattr(torch, self.compute_type))

    def _transcribe_window(self, window: AudioWindow, language: str | None) -> tuple[list[ScoredSegment], str | None]:
        with self._autocast():
            output = self.asr.transcribe([window.samples], batch_size=1, timestamps=True, verbose=False)
        hypothesis = first_hypothesis(output)
        segments = hypothesis_to_segments(hypothesis, window.duration) if hypothesis is not None else []
        return [ScoredSegment(s) for s in segments], language


def make_transcriber(
    loaded: Any, *, model: str, device: str, compute_type: str, batch_size: int = 0, vad: bool = True
) -> ParakeetTranscriber:
    """``batch_size`` and ``vad`` do not apply: NeMo batches internally and has no VAD here."""
    return ParakeetTranscriber(loaded, model=model, device=device, compute_type=compute_type)
