"""Clustering finds the number of speakers by itself and folds tiny clusters into big ones."""

from __future__ import annotations

import numpy as np
import pytest

from cast_pipeline.speakers.cluster import METHODS, cluster


def _voices(counts: list[int], spread: float = 0.25, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows scattered around one random direction per speaker (like embeddings of one voice)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(counts), 64))
    rows, truth = [], []
    for k, n in enumerate(counts):
        rows.append(centres[k] / np.linalg.norm(centres[k]) + spread * rng.normal(size=(n, 64)) / 8)
        truth += [k] * n
    x = np.concatenate(rows)
    return x / np.linalg.norm(x, axis=1, keepdims=True), np.array(truth)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("speakers", [1, 2, 3, 5])
def test_the_number_of_speakers_is_found(method: str, speakers: int) -> None:
    x, truth = _voices([40] * speakers, seed=speakers)
    order = np.random.default_rng(1).permutation(len(x))
    labels = cluster(x[order], method)
    assert len(set(labels.tolist())) == speakers
    pairs = {(int(a), int(b)) for a, b in zip(labels, truth[order], strict=True)}
    assert len(pairs) == speakers  # every cluster is exactly one speaker


def test_labels_are_numbered_by_first_appearance() -> None:
    x, _ = _voices([30, 30], seed=3)
    labels = cluster(x[::-1], "ahc")
    assert labels[0] == 0 and set(labels.tolist()) == {0, 1}


def test_a_cluster_too_small_to_be_a_person_is_folded_into_the_nearest() -> None:
    x, _ = _voices([60, 60, 2], seed=4)
    assert len(set(cluster(x, "ahc").tolist())) == 2
    with pytest.raises(ValueError, match="unknown clustering method 'kmeans'"):
        cluster(x, "kmeans")
