"""Who spoke when, from the audio and the speech model's word timings (no Dagster here).

Steps of :class:`EmbeddingDiarizer` (the default, offline on a CPU):

1. Speech regions come from the speech result's word timings (words closer than ``region_gap``
   seconds form one region), so no second voice-activity detector has to agree with the first.
2. Windows over the regions are embedded with Resemblyzer's voice encoder (cast_pipeline.speakers.encoder).
3. The windows are clustered (cast_pipeline.speakers.cluster: AHC or spectral, number of speakers
   found automatically). Long episodes are clustered on averages of a few consecutive windows, so
   the distance matrix stays small (at most ``max_rows`` rows).
4. Every word gets the speaker whose centroid its windows resemble most, smoothed over the word
   sequence by a Viterbi pass that charges ``switch_penalty`` for a change of speaker. Labelling
   words, not windows, is what keeps a phrase from straddling two speakers.
5. Runs of words of one speaker become turns, labelled ``Speaker 1``, ``Speaker 2``... in order of
   first appearance.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from cast_pipeline.segments import Segment
from cast_pipeline.speakers.cluster import centroids, cluster
from cast_pipeline.speakers.encoder import MODEL_NAME, Windows, embed_windows
from cast_pipeline.speakers.model import SpeakerResult, Turn


class Diarizer(Protocol):
    method: str
    model: str

    def diarize(self, audio: Path, segments: Sequence[Segment]) -> SpeakerResult: ...


@dataclass(frozen=True)
class Item:
    """A timed unit that gets one speaker: a word, or a whole segment when the model gave no words."""

    start: float
    end: float

    @property
    def mid(self) -> float:
        return (self.start + self.end) / 2


def items_of(segments: Sequence[Segment]) -> list[Item]:
    out: list[Item] = []
    for s in segments:
        if s.words:
            out += [Item(w.start, max(w.start, w.end)) for w in s.words]
        elif s.text.strip():
            out.append(Item(s.start, max(s.start, s.end)))
    return sorted(out, key=lambda i: (i.start, i.end))


def speech_regions(items: Sequence[Item], region_gap: float = 0.3) -> list[tuple[float, float]]:
    regions: list[list[float]] = []
    for item in items:
        if regions and item.start - regions[-1][1] <= region_gap:
            regions[-1][1] = max(regions[-1][1], item.end)
        else:
            regions.append([item.start, item.end])
    return [(a, b) for a, b in regions]


def speaker_label(index: int) -> str:
    return f"Speaker {index + 1}"


def turns_from_labels(items: Sequence[Item], labels: Sequence[int]) -> list[Turn]:
    """Runs of items with one label as turns, ``Speaker N`` numbered by first appearance."""
    names: dict[int, str] = {}
    turns: list[Turn] = []
    for item, label in zip(items, labels, strict=True):
        name = names.setdefault(int(label), speaker_label(len(names)))
        if turns and turns[-1].speaker == name:
            turns[-1] = Turn(turns[-1].start, max(turns[-1].end, item.end), name)
        else:
            turns.append(Turn(item.start, item.end, name))
    return turns


def _block_average(windows: Windows, max_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows to cluster: the windows, or means of ``g`` consecutive windows of one region."""
    n = len(windows)
    group = max(1, int(np.ceil(n / max_rows)))
    if group == 1:
        return windows.vectors, np.arange(n)
    owner = np.zeros(n, dtype=int)
    rows: list[np.ndarray] = []
    start = 0
    while start < n:
        stop = start + 1
        while stop < n and stop - start < group and windows.region[stop] == windows.region[start]:
            stop += 1
        owner[start:stop] = len(rows)
        mean = windows.vectors[start:stop].mean(axis=0)
        rows.append(mean / max(float(np.linalg.norm(mean)), 1e-9))
        start = stop
    return np.stack(rows), owner


def item_scores(items: Sequence[Item], windows: Windows, cents: np.ndarray) -> np.ndarray:
    """(items x speakers) mean cosine similarity of the windows over each item to each centroid."""
    sims = windows.vectors @ cents.T
    centres = (windows.starts + windows.ends) / 2
    order = np.argsort(centres)
    sorted_centres = centres[order]
    out = np.zeros((len(items), cents.shape[0]))
    for i, item in enumerate(items):
        covering = np.flatnonzero((windows.starts <= item.mid) & (windows.ends >= item.mid))
        if item.end - item.start > 1.6:  # a long item (a segment without words): windows inside it
            inside = order[np.searchsorted(sorted_centres, item.start) : np.searchsorted(sorted_centres, item.end)]
            covering = np.union1d(covering, inside)
        if covering.size == 0:
            nearest = min(max(np.searchsorted(sorted_centres, item.mid), 0), len(order) - 1)
            covering = order[[nearest]]
        out[i] = sims[covering].mean(axis=0)
    return out


def viterbi(scores: np.ndarray, items: Sequence[Item], switch_penalty: float) -> np.ndarray:
    """Best label sequence: sum of scores minus ``switch_penalty`` per change (a third of it across a pause)."""
    n, k = scores.shape
    if k == 1 or n == 0:
        return np.zeros(n, dtype=int)
    back = np.zeros((n, k), dtype=int)
    total = scores[0].copy()
    for i in range(1, n):
        penalty = switch_penalty if items[i].start - items[i - 1].end < 0.5 else switch_penalty / 3
        stay = total
        best_prev = int(np.argmax(total))
        switch = total[best_prev] - penalty
        choose_switch = switch > stay
        back[i] = np.where(choose_switch, best_prev, np.arange(k))
        total = np.where(choose_switch, switch, stay) + scores[i]
    path = np.zeros(n, dtype=int)
    path[-1] = int(np.argmax(total))
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path


# Cosine-distance thresholds chosen with bench/bench_speakers.py: AHC stops merging groups at 0.4;
# spectral merges clusters whose centroids are closer than 0.2 (0.4 merged two different people).
THRESHOLDS = {"ahc": 0.4, "spectral": 0.2}


class EmbeddingDiarizer:
    """Resemblyzer embeddings + clustering + word-level Viterbi (see the module docstring)."""

    def __init__(
        self,
        clustering: str = "spectral",
        *,
        hop: float = 1.0,
        threshold: float | None = None,
        min_speaker_seconds: float = 5.0,
        switch_penalty: float = 0.1,
        max_speakers: int = 8,
        max_rows: int = 2000,
        device: str = "cpu",
    ) -> None:
        self.clustering = clustering
        self.hop = hop
        self.threshold = THRESHOLDS.get(clustering, 0.4) if threshold is None else threshold
        self.switch_penalty = switch_penalty
        self.max_speakers = max_speakers
        self.max_rows = max_rows
        self.min_speaker_seconds = min_speaker_seconds
        self.device = device
        self.method = f"resemblyzer+{clustering}"
        self.model = f"{MODEL_NAME}@hop{hop:g},t{self.threshold:g}"

    def diarize(self, audio: Path, segments: Sequence[Segment]) -> SpeakerResult:
        started = time.perf_counter()
        items = items_of(segments)
        duration = max((s.end for s in segments), default=0.0)
        if not items:
            return SpeakerResult([], self.method, self.model, duration, time.perf_counter() - started)
        windows = embed_windows(audio, speech_regions(items), hop=self.hop, device=self.device)
        rows, _owner = _block_average(windows, self.max_rows)
        min_count = max(3, round(self.min_speaker_seconds / self.hop / (len(windows) / len(rows))))
        labels = cluster(
            rows, self.clustering, threshold=self.threshold, max_speakers=self.max_speakers, min_count=min_count
        )
        cents = centroids(rows, labels)
        path = viterbi(item_scores(items, windows, cents), items, self.switch_penalty)
        turns = turns_from_labels(items, path)
        details = {"windows": len(windows), "clusters": int(cents.shape[0]), "clustering": self.clustering}
        return SpeakerResult(turns, self.method, self.model, duration, time.perf_counter() - started, details)
