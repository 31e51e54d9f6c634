"""Fixtures of the search tests: the bundled embedding model (once per session) and the demo corpus
indexed for real (once per module), in temp directories."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cast_pipeline.feeds.snapshot import save_episode
from cast_pipeline.paths import DataPaths
from cast_pipeline.search import Embedder, embed_episode, load_embedder, update_index, write_episode_embeddings
from cast_pipeline.search.embeddings import BUNDLED_MODEL
from cast_pipeline_tests.search.corpus import episodes_and_segments


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return load_embedder(BUNDLED_MODEL)


def write_corpus(paths: DataPaths, embedder: Embedder) -> list[str]:
    """Episode snapshots and embeddings on disk, as the episode and embeddings assets leave them."""
    keys = []
    for episode, segments in episodes_and_segments():
        save_episode(paths, episode)
        write_episode_embeddings(paths, episode.key, embed_episode(episode.key, segments, embedder))
        keys.append(episode.key)
    return keys


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> DataPaths:
    """The demo corpus embedded and indexed (read-only for tests: build your own to change it)."""
    paths = DataPaths(tmp_path_factory.mktemp("corpus") / "data")
    update_index(paths, write_corpus(paths, embedder))
    return paths


@pytest.fixture
def corpus_copy(corpus: DataPaths, tmp_path: Path) -> DataPaths:
    """A private copy of the indexed corpus that a test may change."""
    return DataPaths(Path(shutil.copytree(corpus.root, tmp_path / "data")))
