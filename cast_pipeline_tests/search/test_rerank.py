"""Re-ranking from vectors in memory gives LanceDB's refined answer, exactly, without reading the table."""

from __future__ import annotations

import numpy as np

from cast_pipeline.paths import DataPaths
from cast_pipeline.search import SearchIndex, VectorIndexConfig
from cast_pipeline.search.rerank import ExactVectors, fits_in_memory
from cast_pipeline.search.text import parse_query
from cast_pipeline_tests.search.test_index import _synthetic


def test_exact_reranking_matches_brute_force_and_lancedb_refine(paths: DataPaths) -> None:
    config = VectorIndexConfig(min_rows=500, refine_factor=10)
    tables = _synthetic(paths, n_episodes=4, per_episode=200, config=config)  # 800 rows: an IVF_SQ index
    everything = np.concatenate([t.column("vector").combine_chunks().flatten().to_numpy().reshape(-1, 384)
                                 for t in tables.values()])  # fmt: skip
    keys = [(k, i) for k, t in tables.items() for i in range(t.num_rows)]
    refined = SearchIndex.open(paths, config)
    exact = SearchIndex.open(paths, config)
    assert exact.load_exact_vectors()
    rng = np.random.default_rng(3)
    for _ in range(10):
        probe = everything[rng.integers(len(everything))] + rng.normal(scale=0.05, size=384).astype(np.float32)
        brute = [keys[i] for i in np.argsort(-(everything @ (probe / np.linalg.norm(probe))))[:10]]
        hits = exact.semantic_segments(probe, parse_query("x"), None, 10, -1.0)
        assert [(h["episode_key"], h["segment_index"]) for h in hits] == brute
        theirs = refined.semantic_segments(probe, parse_query("x"), None, 10, -1.0)
        assert [(h["episode_key"], h["segment_index"]) for h in theirs] == brute
        for ours, lance in zip(hits, theirs, strict=True):  # the same cosine similarity (float16 copies)
            assert abs(ours["_score"] - lance["_score"]) < 2e-3


def test_without_an_ann_index_nothing_is_loaded(paths: DataPaths) -> None:
    config = VectorIndexConfig(min_rows=10_000)
    _synthetic(paths, n_episodes=1, per_episode=50, config=config)  # exact search already
    index = SearchIndex.open(paths, config)
    assert not index.load_exact_vectors()
    assert index.exact_vectors is None


def test_a_copy_that_would_not_fit_stays_on_disk() -> None:
    assert fits_in_memory(1_000_000, 384)  # 768 MB: this machine has 24 GiB
    assert not fits_in_memory(10**12, 384)


def test_empty_candidates_stay_empty() -> None:
    assert ExactVectors(np.zeros((0, 3), dtype=np.float16)).rerank([], [1.0, 0.0, 0.0], None, 10) == []  # type: ignore[arg-type]
