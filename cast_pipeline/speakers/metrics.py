"""How good a diarization is, against reference turns: DER and the share of words to the right speaker.

Diarization error rate (as in NIST's md-eval): scored on 10 ms frames, ignoring ``collar`` seconds
either side of every reference boundary; missed speech + false alarm + confusion, divided by the
reference speech time. Hypothesis speakers are mapped one-to-one onto reference speakers so as to
maximise their overlap (Hungarian assignment), since cluster labels are arbitrary. Word accuracy uses
the same mapping idea on words: a word's true speaker is the reference turn holding its midpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.optimize import linear_sum_assignment

_STEP = 0.01


class Timed(Protocol):
    start: float
    end: float
    speaker: str


@dataclass(frozen=True)
class DER:
    missed: float
    false_alarm: float
    confusion: float
    speech: float

    @property
    def rate(self) -> float:
        return (self.missed + self.false_alarm + self.confusion) / self.speech if self.speech else 0.0


def _frames(turns: Sequence[Timed], names: list[str], n: int) -> np.ndarray:
    grid = np.zeros((len(names), n), dtype=bool)
    for t in turns:
        grid[names.index(t.speaker), round(t.start / _STEP) : round(t.end / _STEP)] = True
    return grid


def _mapping(overlap: np.ndarray) -> dict[int, int]:
    rows, cols = linear_sum_assignment(-overlap)
    return {int(h): int(r) for h, r in zip(rows, cols, strict=True) if overlap[h, r] > 0}


def diarization_error(reference: Sequence[Timed], hypothesis: Sequence[Timed], collar: float = 0.25) -> DER:
    end = max([t.end for t in [*reference, *hypothesis]], default=0.0)
    n = round(end / _STEP) + 1
    ref_names = sorted({t.speaker for t in reference})
    hyp_names = sorted({t.speaker for t in hypothesis})
    ref = _frames(reference, ref_names, n)
    hyp = _frames(hypothesis, hyp_names, n)
    scored = np.ones(n, dtype=bool)
    c = round(collar / _STEP)
    for t in reference:
        for edge in (t.start, t.end):
            i = round(edge / _STEP)
            scored[max(0, i - c) : i + c] = False
    ref, hyp = ref[:, scored], hyp[:, scored]
    mapping = _mapping(hyp.astype(float) @ ref.T.astype(float)) if hyp_names and ref_names else {}
    n_ref, n_hyp = ref.sum(axis=0), hyp.sum(axis=0)
    correct = np.zeros(ref.shape[1])
    for h, r in mapping.items():
        correct += hyp[h] & ref[r]
    missed = np.maximum(n_ref - n_hyp, 0).sum() * _STEP
    false_alarm = np.maximum(n_hyp - n_ref, 0).sum() * _STEP
    confusion = (np.minimum(n_ref, n_hyp) - correct).sum() * _STEP
    return DER(float(missed), float(false_alarm), float(confusion), float(n_ref.sum() * _STEP))


def speaker_at(turns: Sequence[Timed], t: float) -> str | None:
    for turn in turns:
        if turn.start <= t < turn.end:
            return turn.speaker
    return None


def nearest_speaker(turns: Sequence[Timed], t: float) -> str:
    inside = speaker_at(turns, t)
    if inside is not None:
        return inside
    return min(turns, key=lambda x: min(abs(x.start - t), abs(x.end - t))).speaker


def word_accuracy(reference: Sequence[Timed], words: Sequence[tuple[float, float, str | None]]) -> float:
    """Share of ``(start, end, hypothesis speaker)`` words whose speaker maps onto the reference one."""
    if not words:
        return 0.0
    truth = [nearest_speaker(reference, (a + b) / 2) for a, b, _ in words]
    ref_names = sorted(set(truth))
    hyp_names = sorted({h or "" for _, _, h in words})
    overlap = np.zeros((len(hyp_names), len(ref_names)))
    for (_, _, h), r in zip(words, truth, strict=True):
        overlap[hyp_names.index(h or ""), ref_names.index(r)] += 1
    mapping = _mapping(overlap)
    right = sum(overlap[h, r] for h, r in mapping.items())
    return float(right / len(words))
