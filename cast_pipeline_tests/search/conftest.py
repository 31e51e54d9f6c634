"""How the search tests' corpus is written; the ``embedder``, ``corpus`` and ``corpus_copy`` fixtures that
use it are in the suite's root conftest (built once per session)."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from cast_pipeline.feeds.snapshot import save_episode
from cast_pipeline.paths import DataPaths
from cast_pipeline.search import Embedder, embed_episode, write_episode_embeddings
from cast_pipeline.segments import Segment
from cast_pipeline_tests.search.corpus import episodes_and_segments

_EMBEDDED: dict[tuple[int, str, str, tuple[Segment, ...]], pa.Table] = {}


def embedded_episode(episode_key: str, segments: Sequence[Segment], embedder: Embedder) -> pa.Table:
    """``embed_episode``, remembered for the test process: the corpus fixtures of many tests embed the
    same episodes with the same model, and encoding is what makes them slow. The table is immutable, so
    sharing it is safe; anything else than the corpus should call ``embed_episode`` itself."""
    memo = (id(embedder), embedder.model_name, episode_key, tuple(segments))
    if memo not in _EMBEDDED:
        _EMBEDDED[memo] = embed_episode(episode_key, segments, embedder)
    return _EMBEDDED[memo]


def write_corpus(paths: DataPaths, embedder: Embedder) -> list[str]:
    """Episode snapshots and embeddings on disk, as the episode and embeddings assets leave them."""
    keys = []
    for episode, segments in episodes_and_segments():
        save_episode(paths, episode)
        write_episode_embeddings(paths, episode.key, embedded_episode(episode.key, segments, embedder))
        keys.append(episode.key)
    return keys
