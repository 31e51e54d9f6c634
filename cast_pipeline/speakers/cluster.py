"""Group speaker embeddings into speakers without being told how many there are (1 to ``max_speakers``).

Two methods, both measured by bench/bench_speakers.py on the same conversations:

- ``ahc``: agglomerative clustering, average linkage on cosine distance, stopped at
  ``threshold``: two groups whose mean distance is above it are different people.
- ``spectral``: a cosine affinity matrix pruned to each row's nearest neighbours, the number of
  speakers from the largest gap between the normalised Laplacian's eigenvalues, k-means on the
  eigenvectors. Spectral methods cannot say "one speaker" from the gap alone, so clusters whose
  centroids are closer than ``threshold`` are merged afterwards.

Both then fold clusters too small to be a person (less than ``min_share`` of the windows, or fewer
than ``min_count``: the diarizer asks for about 5 s of speech) into the
nearest large one: a cough or a burst of music otherwise becomes "Speaker 3".
Input rows are L2-normalised embeddings; output is one label per row, 0-based, in first-appearance order.
"""

from __future__ import annotations

import numpy as np

# scipy.cluster is imported inside the functions: this module is imported with the Dagster definitions
# (speakers asset), so every code server, run worker and `cast-pipeline` start would pay ~0.5 s for it.

METHODS = ("ahc", "spectral")


def _first_appearance(labels: np.ndarray) -> np.ndarray:
    order = {old: new for new, old in enumerate(dict.fromkeys(labels.tolist()))}
    return np.array([order[x] for x in labels.tolist()], dtype=int)


def centroids(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """One L2-normalised mean vector per label (rows in label order)."""
    out = np.stack([vectors[labels == k].mean(axis=0) for k in range(int(labels.max()) + 1)])
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def fold_small(vectors: np.ndarray, labels: np.ndarray, min_share: float, min_count: int = 3) -> np.ndarray:
    """Move rows of clusters smaller than ``min_share`` of all rows (or ``min_count``) to the nearest big one."""
    counts = np.bincount(labels)
    big = np.flatnonzero(counts >= max(min_count, min_share * labels.size))
    if big.size == 0 or big.size == counts.size:
        return _first_appearance(labels)
    cents = centroids(vectors, labels)[big]
    small_rows = ~np.isin(labels, big)
    labels = labels.copy()
    labels[small_rows] = big[np.argmax(vectors[small_rows] @ cents.T, axis=1)]
    return _first_appearance(labels)


def ahc(vectors: np.ndarray, *, threshold: float = 0.4, max_speakers: int = 8) -> np.ndarray:
    if len(vectors) < 2:
        return np.zeros(len(vectors), dtype=int)
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(vectors, method="average", metric="cosine")
    labels = fcluster(tree, t=threshold, criterion="distance")
    if labels.max() > max_speakers:
        labels = fcluster(tree, t=max_speakers, criterion="maxclust")
    return _first_appearance(labels - 1)


def spectral(
    vectors: np.ndarray, *, max_speakers: int = 8, neighbours: float = 0.2, merge_below: float = 0.4, seed: int = 0
) -> np.ndarray:
    n = len(vectors)
    if n < 4:
        return np.zeros(n, dtype=int)
    affinity = np.clip(vectors @ vectors.T, 0.0, 1.0)
    keep = max(2, int(neighbours * n))
    pruned = np.zeros_like(affinity)
    top = np.argsort(-affinity, axis=1)[:, :keep]
    rows = np.arange(n)[:, None]
    pruned[rows, top] = affinity[rows, top]
    pruned = (pruned + pruned.T) / 2
    degree = pruned.sum(axis=1)
    inv = 1.0 / np.sqrt(np.where(degree > 0, degree, 1.0))
    laplacian = np.eye(n) - inv[:, None] * pruned * inv[None, :]
    values, vecs = np.linalg.eigh(laplacian)
    limit = min(max_speakers, n - 1)
    gaps = np.diff(values[: limit + 1])
    k = int(np.argmax(gaps[1:]) + 2) if limit >= 2 else 1  # the gap after eigenvalue k (k >= 2)
    embedding = vecs[:, :k]
    embedding = embedding / np.maximum(np.linalg.norm(embedding, axis=1, keepdims=True), 1e-9)
    from scipy.cluster.vq import kmeans2

    _, labels = kmeans2(embedding, k, minit="++", seed=seed, iter=30)
    return merge_close(vectors, _first_appearance(labels), merge_below)


def merge_close(vectors: np.ndarray, labels: np.ndarray, below: float) -> np.ndarray:
    """Merge the two clusters with the closest centroids while their cosine distance is under ``below``."""
    labels = labels.copy()
    while labels.max() > 0:
        cents = centroids(vectors, labels)
        distance = 1.0 - cents @ cents.T
        np.fill_diagonal(distance, np.inf)
        a, b = np.unravel_index(int(np.argmin(distance)), distance.shape)
        if distance[a, b] >= below:
            break
        labels[labels == max(a, b)] = min(a, b)
        labels = _first_appearance(labels)
    return labels


def cluster(
    vectors: np.ndarray,
    method: str = "ahc",
    *,
    threshold: float = 0.4,
    max_speakers: int = 8,
    min_share: float = 0.02,
    min_count: int = 3,
) -> np.ndarray:
    """Labels for ``vectors`` with ``method`` (one of :data:`METHODS`), small clusters folded in."""
    if method == "ahc":
        labels = ahc(vectors, threshold=threshold, max_speakers=max_speakers)
    elif method == "spectral":
        labels = spectral(vectors, max_speakers=max_speakers, merge_below=threshold)
    else:
        raise ValueError(f"unknown clustering method {method!r}; use one of {', '.join(METHODS)}")
    if len(labels) == 0:
        return labels
    return fold_small(vectors, labels, min_share, min_count)
