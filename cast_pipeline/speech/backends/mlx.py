"""mlx-whisper backend, for Apple Silicon Macs (Metal GPU through MLX).

Choices and why:
- Only on ``darwin``/``arm64``: MLX has no other platform, so elsewhere loading fails at once with
  a clear message instead of an import error deep inside a run.
- Model names map to the ``mlx-community`` conversions (``tiny.en`` -> whisper-tiny.en-mlx,
  ``large-v3-turbo`` and ``default`` -> whisper-large-v3-turbo); a local directory or any other
  Hugging Face repo id is passed as is.
- Windows are handed over as float32 arrays (mlx-whisper would otherwise shell out to ffmpeg).
- mlx-whisper returns openai-whisper's dict: ``{"text", "language", "segments": [{"id", "seek",
  "start", "end", "text", "tokens", "temperature", "avg_logprob", "compression_ratio",
  "no_speech_prob", "words": [{"word", "start", "end", "probability"}]}]}``;
  :func:`result_to_scored` converts it, keeping the no-speech and log-probability figures for the guards.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cast_pipeline.segments import Segment, Word
from cast_pipeline.speech.backends.base import WindowedTranscriber
from cast_pipeline.speech.decode import AudioWindow, WindowPlan
from cast_pipeline.speech.errors import BackendUnavailableError
from cast_pipeline.speech.guards import ScoredSegment

MODEL_REPOS = {
    "tiny.en": "mlx-community/whisper-tiny.en-mlx",
    "large-v3-turbo": "mlx-community/whisper-large-v3-turbo",
    "turbo": "mlx-community/whisper-large-v3-turbo",
    "default": "mlx-community/whisper-large-v3-turbo",
}
INSTALL_HINT = "pip install 'cast-pipeline[mlx]'"


def _check_platform() -> None:
    if sys.platform != "darwin" or platform.machine() != "arm64":
        raise BackendUnavailableError(
            f"mlx-whisper runs only on Apple Silicon Macs, not {sys.platform}/{platform.machine()}; "
            "set CAST_SPEECH_BACKEND=faster-whisper on this machine"
        )


def _import_mlx_whisper() -> Any:
    _check_platform()
    try:
        import mlx_whisper
    except ImportError as exc:
        raise BackendUnavailableError(f"the mlx-whisper backend needs mlx-whisper: {INSTALL_HINT} ({exc})") from None
    return mlx_whisper


def resolve_model(name: str) -> str:
    name = name.strip() or "default"
    if name in MODEL_REPOS:
        return MODEL_REPOS[name]
    path = Path(name).expanduser()
    return str(path) if path.is_dir() else name


def resolve_device(device: str) -> str:
    device = (device or "auto").strip().lower()
    if device not in ("auto", "mlx", "metal", "gpu", "mps"):
        raise BackendUnavailableError(f"mlx-whisper runs on the Apple GPU, not {device!r}; set CAST_SPEECH_DEVICE=auto")
    return "metal"


def resolve_compute_type(device: str, compute_type: str) -> str:
    compute_type = (compute_type or "default").strip().lower()
    if compute_type in ("default", "float16"):
        return "float16"
    if compute_type == "float32":
        return compute_type
    raise BackendUnavailableError(f"mlx-whisper supports float16 or float32, not {compute_type!r}")


@dataclass(frozen=True)
class MlxModel:
    """mlx-whisper keeps its model in a module-level holder keyed by path; we keep the path."""

    module: Any
    repo: str


def load_model(model: str, device: str, compute_type: str) -> MlxModel:
    mlx_whisper = _import_mlx_whisper()
    repo = resolve_model(model)
    try:  # warm the holder now so a missing model fails at load time, not in the first episode
        import mlx.core as mx
        from mlx_whisper.transcribe import ModelHolder

        ModelHolder.get_model(repo, mx.float16 if compute_type == "float16" else mx.float32)
    except Exception as exc:
        raise BackendUnavailableError(f"could not load mlx-whisper model {repo!r}: {exc}") from None
    return MlxModel(mlx_whisper, repo)


def result_to_scored(result: dict[str, Any]) -> list[ScoredSegment]:
    """Segments of an mlx-whisper (openai-whisper shaped) result dict, with confidence figures."""
    out: list[ScoredSegment] = []
    for seg in result.get("segments") or ():
        text = str(seg.get("text", "")).strip()
        if not text:
            continue  # mlx-whisper blanks instantaneous segments rather than removing them
        words = tuple(
            Word(float(w["start"]), float(w["end"]), str(w["word"]).strip(), _opt_float(w.get("probability")))
            for w in seg.get("words") or ()
            if str(w.get("word", "")).strip()
        )
        out.append(
            ScoredSegment(
                Segment(float(seg["start"]), float(seg["end"]), text, words=words),
                no_speech_prob=_opt_float(seg.get("no_speech_prob")),
                avg_logprob=_opt_float(seg.get("avg_logprob")),
            )
        )
    return out


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


class MlxWhisperTranscriber(WindowedTranscriber):
    backend = "mlx-whisper"
    window_plan = WindowPlan(window_seconds=600.0, overlap_seconds=0.0, cut_search_seconds=10.0)

    def __init__(self, loaded: MlxModel, *, model: str, device: str, compute_type: str) -> None:
        super().__init__(model, device, compute_type)
        self.loaded = loaded

    def _transcribe_window(self, window: AudioWindow, language: str | None) -> tuple[list[ScoredSegment], str | None]:
        result = self.loaded.module.transcribe(
            window.samples,
            path_or_hf_repo=self.loaded.repo,
            word_timestamps=True,
            language=language,
            fp16=self.compute_type == "float16",
            verbose=None,
        )
        return result_to_scored(result), result.get("language") or language


def make_transcriber(
    loaded: MlxModel, *, model: str, device: str, compute_type: str, batch_size: int = 0, vad: bool = True
) -> MlxWhisperTranscriber:
    """``batch_size`` and ``vad`` do not apply to mlx-whisper."""
    return MlxWhisperTranscriber(loaded, model=model, device=device, compute_type=compute_type)
