"""Speaker embeddings of short windows of speech, with Resemblyzer's bundled voice encoder.

Why Resemblyzer: its GE2E encoder (a 3-layer LSTM over 40 mel bands, 256-dim output, 17 MB) ships
inside the PyPI wheel, so diarization works offline on a CPU with no hub download. We use its model
and mel front end but not its ``preprocess_wav``: that trims silences, which would move every time.

Windows: the encoder was trained on 1.6 s partials, so each speech region is covered by 1.6 s windows
every ``hop`` seconds; a region shorter than that gets one window of its own length (at least
``min_window``). Each window is brought to the encoder's training level (-30 dBFS) before its mel
frames go in (the mel is a power spectrum, so level would otherwise leak into the embedding). Audio
is decoded in 5-minute blocks, so memory stays bounded on long episodes.

Threads: the LSTM runs with ONE torch thread. Measured on this 2-core machine while other processes
were busy: 58 ms per window with one thread, 2080 ms with torch's default two (its worker threads
spin against the other processes). Dynamic int8 quantisation was tried and rejected: no faster, and
its embeddings had a cosine of only 0.64 with the float ones.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cast_pipeline.speech.decode import SAMPLE_RATE, WindowPlan, iter_windows

PARTIAL_SECONDS = 1.6  # the encoder's training length (160 frames of 10 ms)
_HOP = SAMPLE_RATE // 100  # 10 ms mel frames
_TARGET_RMS = 10 ** (-30 / 20)  # -30 dBFS, Resemblyzer's audio_norm_target_dBFS
_BLOCK = WindowPlan(window_seconds=300.0, overlap_seconds=0.0)
MODEL_NAME = "resemblyzer-ge2e"

_lock = threading.Lock()
_encoder: Any = None


class EncoderUnavailableError(RuntimeError):
    """The voice encoder cannot be loaded here (message says what to install)."""


def load_encoder(device: str = "cpu") -> Any:
    """Resemblyzer's ``VoiceEncoder`` on ``device``, loaded once per process."""
    global _encoder
    with _lock:
        if _encoder is None:
            try:
                from resemblyzer import VoiceEncoder
            except ImportError as exc:
                raise EncoderUnavailableError(
                    f"resemblyzer is not importable ({exc}); pip install resemblyzer==0.1.4 'setuptools<81' "
                    "(its webrtcvad needs pkg_resources), or set CAST_DIARIZATION=off"
                ) from None
            _encoder = VoiceEncoder(device, verbose=False)
        return _encoder


@dataclass(frozen=True)
class Windows:
    """Embedded windows: ``starts``/``ends`` in seconds (episode time), ``vectors`` L2-normalised rows."""

    starts: np.ndarray
    ends: np.ndarray
    vectors: np.ndarray
    region: np.ndarray  # index of the speech region each window lies in

    def __len__(self) -> int:
        return int(self.starts.size)


def plan_windows(
    regions: Sequence[tuple[float, float]], hop: float, min_window: float = 0.5
) -> list[tuple[float, float, int]]:
    """``(start, end, region index)`` of the windows covering ``regions`` (see the module docstring)."""
    out: list[tuple[float, float, int]] = []
    for index, (start, end) in enumerate(regions):
        length = end - start
        if length < min_window:
            mid = (start + end) / 2
            out.append((max(0.0, mid - min_window / 2), max(0.0, mid - min_window / 2) + min_window, index))
        elif length <= PARTIAL_SECONDS:
            out.append((start, end, index))
        else:
            count = int(np.ceil((length - PARTIAL_SECONDS) / hop)) + 1
            step = (length - PARTIAL_SECONDS) / (count - 1)
            out += [(start + i * step, start + i * step + PARTIAL_SECONDS, index) for i in range(count)]
    return out


def _mel(samples: np.ndarray) -> np.ndarray:
    from resemblyzer.audio import wav_to_mel_spectrogram

    return wav_to_mel_spectrogram(samples)  # (frames, 40), frame i centred at i * 10 ms


def embed_windows(
    audio: Path, regions: Sequence[tuple[float, float]], *, hop: float = 1.0, device: str = "cpu"
) -> Windows:
    """Embeddings of the windows over ``regions`` (sorted, seconds) of ``audio``."""
    import torch

    encoder = load_encoder(device)
    planned = plan_windows(regions, hop)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # see the module docstring
    try:
        vectors = _embed(encoder, audio, planned)
    finally:
        torch.set_num_threads(threads)
    return Windows(
        starts=np.array([p[0] for p in planned]),
        ends=np.array([p[1] for p in planned]),
        vectors=vectors,
        region=np.array([p[2] for p in planned], dtype=int),
    )


def _embed(encoder: Any, audio: Path, planned: list[tuple[float, float, int]]) -> np.ndarray:
    import torch

    vectors = np.zeros((len(planned), 256), np.float32)
    next_window = 0
    for block in iter_windows(audio, _BLOCK):
        end_s = block.offset + block.duration
        chosen = []
        while next_window < len(planned) and planned[next_window][0] < end_s:
            chosen.append(next_window)
            next_window += 1
        if not chosen:
            continue
        samples = block.samples
        mel = _mel(samples)
        by_length: dict[int, list[tuple[int, np.ndarray]]] = {}
        for w in chosen:
            start, end, _ = planned[w]
            a = max(0, round((start - block.offset) * 100))
            n = max(1, round((end - start) * 100))
            frames = mel[a : a + n]
            wav = samples[a * _HOP : (a + n) * _HOP]
            if frames.shape[0] < n:  # past the block's end (the last frames of the file): pad
                frames = np.pad(frames, ((0, n - frames.shape[0]), (0, 0)))
            rms = float(np.sqrt(np.mean(np.square(wav)))) if wav.size else 0.0
            gain = (_TARGET_RMS / rms) ** 2 if rms > 1e-5 else 1.0
            by_length.setdefault(n, []).append((w, frames * gain))
        with torch.no_grad():
            for items in by_length.values():
                for i in range(0, len(items), 256):
                    part = items[i : i + 256]
                    batch = torch.from_numpy(np.stack([f for _, f in part]).astype(np.float32)).to(encoder.device)
                    out = encoder(batch).cpu().numpy()
                    for (w, _), vec in zip(part, out, strict=True):
                        vectors[w] = vec
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)
