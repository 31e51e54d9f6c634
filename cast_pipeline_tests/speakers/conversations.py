"""Conversations with known speaker turns, cut from real recordings of different people.

Why built here rather than downloaded: no annotated meeting corpus ships offline, but real speech of
several people does. Each source is one person; pieces of their recordings are laid one after the
other in a seeded order, so every turn boundary is known to the sample. Sources:

- ``jfk``: John F. Kennedy, inaugural address excerpt (public domain; ``$CAST_SHARED_DIR/data/audio``).
- ``librivox``: the LibriVox reader of *Sense and Sensibility* (public domain; same folder, five clips).
- ``bruce``, ``mark``: amateur radio operators VE9QRP and VK5QI reading call signs and chatting, and
  ``harvard``: a reader of Harvard sentences; all from Debian's ``codec2-examples`` package
  (``/usr/share/codec2``, LGPL-2.1, copyright David Rowe; see /usr/share/doc/codec2-examples/copyright).

Every source is band-limited to 4 kHz (the codec2 files are 8 kHz recordings) and brought to the same
loudness, so neither bandwidth nor level tells speakers apart: only their voices do. Turns are 2-20 s;
about a third follow the previous one with no pause at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly

from cast_pipeline.speech.decode import SAMPLE_RATE, decode_all
from cast_pipeline_tests.conftest import require_shared

CODEC2 = Path(os.environ.get("CAST_CODEC2_DIR", "/usr/share/codec2"))
_FRAME = SAMPLE_RATE // 50  # 20 ms frames for the pause finder


@dataclass(frozen=True)
class RefTurn:
    start: float
    end: float
    speaker: str


@dataclass(frozen=True)
class Conversation:
    samples: np.ndarray
    turns: list[RefTurn]  # every stretch of speech, pauses of 0.5 s or more inside a turn left out
    speakers: tuple[str, ...]

    @property
    def duration(self) -> float:
        return self.samples.size / SAMPLE_RATE


def _source_files() -> dict[str, list[Path]]:
    audio = require_shared() / "audio"
    if not (CODEC2 / "wav" / "ve9qrp.wav").is_file():
        if os.environ.get("CI") == "true":
            raise RuntimeError(f"{CODEC2} is missing: apt-get install codec2-examples (.ci/run does)")
        pytest.skip(f"Debian package codec2-examples not installed ({CODEC2}); apt-get install codec2-examples")
    return {
        "jfk": [audio / "jfk.wav"],
        "librivox": sorted(audio.glob("librivox-sense-and-sensibility-*.wav")),
        "bruce": [CODEC2 / "wav" / "ve9qrp.wav"],
        "mark": [CODEC2 / "wav" / "vk5qi.wav"],
        "harvard": [CODEC2 / "raw" / "speech_orig_16k.wav"],
    }


def _voiced(samples: np.ndarray) -> np.ndarray:
    """One bool per 20 ms frame: above 15 % of the loud frames and 3x the noise floor (an energy gate)."""
    n = samples.size // _FRAME
    energy = np.sqrt(np.square(samples[: n * _FRAME].reshape(n, _FRAME)).mean(axis=1))
    return energy > max(0.15 * np.percentile(energy, 95), 3 * np.percentile(energy, 10))


def _spans(voiced: np.ndarray, min_pause: float) -> list[tuple[int, int]]:
    """Voiced stretches (in samples) separated by pauses of at least ``min_pause`` seconds."""
    gap = int(min_pause * SAMPLE_RATE / _FRAME)
    spans: list[list[int]] = []
    for i in np.flatnonzero(voiced):
        if spans and i - spans[-1][1] <= gap:
            spans[-1][1] = i + 1
        else:
            spans.append([i, i + 1])
    return [(a * _FRAME, b * _FRAME) for a, b in spans]


def _prepare(path: Path) -> np.ndarray:
    samples = decode_all(path).astype(np.float64)
    samples = resample_poly(resample_poly(samples, 1, 2), 2, 1)[: samples.size]  # 4 kHz band for all
    voiced = _voiced(samples).repeat(_FRAME)
    rms = np.sqrt(np.mean(np.square(samples[: voiced.size][voiced])))
    return (samples * (0.05 / rms)).astype(np.float32)


def utterances(files: list[Path], max_seconds: float = 6.0) -> list[np.ndarray]:
    """A person's speech as pieces cut at pauses of 0.25 s or more, each at most ``max_seconds`` long."""
    pieces: list[np.ndarray] = []
    for path in files:
        samples = _prepare(path)
        current: list[tuple[int, int]] = []
        for a, b in _spans(_voiced(samples), 0.25):
            if current and (b - current[0][0]) / SAMPLE_RATE > max_seconds:
                pieces.append(samples[current[0][0] : current[-1][1]])
                current = []
            current.append((a, b))
        if current:
            pieces.append(samples[current[0][0] : current[-1][1]])
    return [p for p in pieces if p.size >= 0.5 * SAMPLE_RATE]


def build_conversation(speakers: tuple[str, ...], turns: int, seed: int = 0, max_turn: float = 20.0) -> Conversation:
    """``turns`` turns of 2-``max_turn`` s taking ``speakers`` in a seeded random order (never twice in a row)."""
    files = _source_files()
    rng = np.random.default_rng(seed)
    pools = {s: utterances(files[s]) for s in speakers}
    cursor = dict.fromkeys(speakers, 0)
    out: list[np.ndarray] = []
    ref: list[RefTurn] = []
    at = int(0.5 * SAMPLE_RATE)
    out.append(np.zeros(at, np.float32))
    previous: str | None = None
    for _ in range(turns):
        speaker = str(rng.choice([s for s in speakers if s != previous] or list(speakers)))
        previous = speaker
        target = rng.uniform(2.0, max_turn)
        pieces: list[np.ndarray] = []
        length = 0
        while length < 2.0 * SAMPLE_RATE or (length < target * SAMPLE_RATE and rng.random() < 0.7):
            pool = pools[speaker]
            piece = pool[cursor[speaker] % len(pool)]
            cursor[speaker] += 1
            if pieces and (length + piece.size) / SAMPLE_RATE > max_turn:
                break
            if pieces:
                pieces.append(np.zeros(int(rng.uniform(0.15, 0.6) * SAMPLE_RATE), np.float32))
            pieces.append(piece)
            length = sum(p.size for p in pieces)
        turn = np.concatenate(pieces)
        for a, b in _spans(_voiced(turn), 0.5):
            ref.append(RefTurn((at + a) / SAMPLE_RATE, (at + b) / SAMPLE_RATE, speaker))
        out.append(turn)
        at += turn.size
        pause = 0 if rng.random() < 0.35 else int(rng.uniform(0.2, 1.0) * SAMPLE_RATE)
        out.append(np.zeros(pause, np.float32))
        at += pause
    out.append(np.zeros(int(0.5 * SAMPLE_RATE), np.float32))
    return Conversation(np.concatenate(out), ref, tuple(speakers))
