"""Synthetic "speech" for testing the window machinery without a model: each word is a tone burst.

Word ``k`` is a 0.4 s sine at ``400 + 100 k`` Hz starting at ``0.5 + 0.9 k`` s, so a tiny detector
(:func:`detect_tones`) can "recognise" which word it heard and when, from the window's samples
alone. Cutting, offsetting and merging of windows can then be checked exactly: every word must
come out once, with its true episode time.
"""

from __future__ import annotations

import numpy as np

from cast_pipeline.speech.decode import SAMPLE_RATE

FIRST = 0.5
STEP = 0.9
WORD_SECONDS = 0.4
_FRAME = SAMPLE_RATE // 100  # 10 ms


def tone_audio(n_words: int) -> np.ndarray:
    total = FIRST + n_words * STEP + 0.5
    audio = np.zeros(int(total * SAMPLE_RATE), dtype=np.float32)
    for k, (_, start, _) in enumerate(expected_words(n_words)):
        first = int(start * SAMPLE_RATE)
        t = np.arange(int(WORD_SECONDS * SAMPLE_RATE)) / SAMPLE_RATE
        audio[first : first + t.size] = 0.5 * np.sin(2 * np.pi * (400 + 100 * k) * t)
    return audio


def expected_words(n_words: int) -> list[tuple[str, float, float]]:
    return [(f"w{k}", FIRST + k * STEP, FIRST + k * STEP + WORD_SECONDS) for k in range(n_words)]


def detect_tones(samples: np.ndarray) -> list[tuple[str, float, float]]:
    """(label, start, end) of every burst of at least 50 ms, in the samples' own time."""
    n = samples.size // _FRAME
    active = np.square(samples[: n * _FRAME].reshape(n, _FRAME)).mean(axis=1) > 0.01
    found: list[tuple[str, float, float]] = []
    i = 0
    while i < n:
        if not active[i]:
            i += 1
            continue
        j = i
        while j < n and active[j]:
            j += 1
        if j - i >= 5:
            region = samples[i * _FRAME : j * _FRAME]
            loud = np.flatnonzero(np.abs(region) > 1e-3)  # the burst itself, without framing slack
            burst = region[loud[0] : loud[-1] + 1]
            crossings = np.count_nonzero(np.diff(np.signbit(burst)))
            freq = crossings / 2 / (burst.size / SAMPLE_RATE)
            start = (i * _FRAME + loud[0]) / SAMPLE_RATE
            end = (i * _FRAME + loud[-1] + 1) / SAMPLE_RATE
            found.append((f"w{round((freq - 400) / 100)}", start, end))
        i = j
    return found
