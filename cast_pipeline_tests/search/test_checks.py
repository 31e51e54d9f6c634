"""The plain functions behind the embeddings and search_index asset checks."""

from __future__ import annotations

import pytest

from cast_pipeline.paths import DataPaths
from cast_pipeline.search import Embedder, embed_episode, update_index, write_episode_embeddings
from cast_pipeline.search.checks import check_episode_embeddings, check_index_counts, check_index_model
from cast_pipeline.segments import Segment
from cast_pipeline_tests.search.corpus import episodes_and_segments


@pytest.fixture
def indexed(corpus_copy: DataPaths) -> DataPaths:
    return corpus_copy


def test_fresh_embeddings_pass(indexed: DataPaths) -> None:
    episode, segments = episodes_and_segments()[0]
    outcome = check_episode_embeddings(indexed, episode.key, segments, "all-MiniLM-L6-v2")
    assert outcome.passed, outcome.description
    n = len(segments)
    assert outcome.metadata == {"segments": n, "passages": n, "vectors": n, "model": "all-MiniLM-L6-v2"}


def test_a_changed_or_longer_transcript_fails(indexed: DataPaths) -> None:
    episode, segments = episodes_and_segments()[0]
    edited = [*segments[:2], Segment(segments[2].start, segments[2].end, "Different words now."), *segments[3:]]
    outcome = check_episode_embeddings(indexed, episode.key, edited, "all-MiniLM-L6-v2")
    assert not outcome.passed
    assert "text changed: [2]" in outcome.description
    longer = [*segments, Segment(999, 1000, "A new closing phrase.")]
    assert "no vector: [6]" in check_episode_embeddings(indexed, episode.key, longer, "all-MiniLM-L6-v2").description


def test_embeddings_from_another_model_fail(indexed: DataPaths) -> None:
    episode, segments = episodes_and_segments()[0]
    other = "paraphrase-multilingual-MiniLM-L12-v2"  # only compared by name, never loaded
    outcome = check_episode_embeddings(indexed, episode.key, segments, other)
    assert not outcome.passed
    assert "configured model is 'paraphrase-multilingual-MiniLM-L12-v2': re-embed" in outcome.description
    assert not check_index_model(indexed, other).passed
    assert check_index_model(indexed, "sentence-transformers/all-MiniLM-L6-v2").passed


def test_missing_embeddings_fail_with_the_reason(indexed: DataPaths) -> None:
    episode, segments = episodes_and_segments()[0]
    indexed.episode_file(episode.key, "embeddings.parquet").unlink()
    outcome = check_episode_embeddings(indexed, episode.key, segments, "all-MiniLM-L6-v2")
    assert not outcome.passed
    assert "no embeddings" in outcome.description


def test_index_counts_match_the_embedded_segments(indexed: DataPaths) -> None:
    outcome = check_index_counts(indexed)
    assert outcome.passed, outcome.description
    total = sum(len(s) for _, s in episodes_and_segments())
    assert outcome.metadata["segments"] == outcome.metadata["expected_segments"] == total


def test_an_embedded_but_unindexed_episode_fails_the_count(indexed: DataPaths, embedder: Embedder) -> None:
    episode, segments = episodes_and_segments()[0]
    write_episode_embeddings(indexed, episode.key, embed_episode(episode.key, segments[:2], embedder))
    outcome = check_index_counts(indexed)
    assert not outcome.passed
    assert f"'{episode.key}': ({len(segments)}, 2)" in outcome.description
    update_index(indexed, [episode.key])
    assert check_index_counts(indexed).passed


def test_explicit_expected_counts_are_checked_too(indexed: DataPaths) -> None:
    episode, segments = episodes_and_segments()[0]
    expected = {e.key: len(s) for e, s in episodes_and_segments()}
    assert check_index_counts(indexed, expected).passed
    assert not check_index_counts(indexed, expected | {episode.key: len(segments) + 1}).passed


def test_no_index_fails_the_checks(paths: DataPaths) -> None:
    assert "materialise search_index" in check_index_counts(paths).description
    assert not check_index_model(paths, "all-MiniLM-L6-v2").passed
