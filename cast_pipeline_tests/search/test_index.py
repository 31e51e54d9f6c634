"""Building and updating the index: replace-not-duplicate, model safety, generations, languages, ANN."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from cast_pipeline.feeds import catalog
from cast_pipeline.keys import InvalidKeyError
from cast_pipeline.paths import DataPaths
from cast_pipeline.search import (
    Embedder,
    ModelMismatchError,
    SearchError,
    SearchIndex,
    VectorIndexConfig,
    connect_analytics,
    embed_episode,
    load_embedder,
    rebuild_index,
    remove_episodes,
    search,
    update_index,
    write_episode_embeddings,
)
from cast_pipeline.search.embeddings import bundled_model_dir, embeddings_schema
from cast_pipeline.search.store import read_manifest
from cast_pipeline.search.text import parse_query
from cast_pipeline.segments import Segment
from cast_pipeline_tests.search.conftest import write_corpus
from cast_pipeline_tests.search.corpus import episodes_and_segments, ref

N_SEGMENTS = sum(len(s) for _, s in episodes_and_segments())
N_EPISODES = len(episodes_and_segments())


@pytest.fixture(scope="module")
def corpus_files(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> tuple[Path, list[str]]:
    """Episode snapshots + embeddings on disk, not indexed; tests copy them (embedding once is enough)."""
    root = tmp_path_factory.mktemp("files") / "data"
    return root, write_corpus(DataPaths(root), embedder)


@pytest.fixture
def files(corpus_files: tuple[Path, list[str]], paths: DataPaths) -> list[str]:
    shutil.copytree(corpus_files[0], paths.root)
    return corpus_files[1]


def _segment_count(paths: DataPaths, episode_key: str) -> int:
    return (
        connect_analytics(paths)
        .execute("SELECT count(*) FROM segments WHERE episode_key = ?", [episode_key])
        .fetchone()[0]
    )  # type: ignore[index]


def test_updating_an_episode_twice_replaces_its_rows(paths: DataPaths, files: list[str], embedder: Embedder) -> None:
    first = update_index(paths, files)
    assert (first.segments, first.episodes) == (N_SEGMENTS, N_EPISODES)
    again = update_index(paths, files)
    assert (again.segments, again.episodes) == (N_SEGMENTS, N_EPISODES)

    key = ref("cooking", 1)
    shorter = [Segment(0, 5, "Sourdough needs patience."), Segment(5, 9, "Rye flour ferments faster.")]
    write_episode_embeddings(paths, key, embed_episode(key, shorter, embedder))
    update_index(paths, [key])
    assert _segment_count(paths, key) == 2
    assert search("rye", paths=paths, mode="keyword").text.tolist() == ["Rye flour ferments faster."]
    assert search("wild yeast", paths=paths, mode="keyword").empty  # the old phrase is gone


def test_an_episode_without_embeddings_is_removed_on_update(paths: DataPaths, files: list[str]) -> None:
    update_index(paths, files)
    key = ref("space", 2)
    paths.episode_file(key, "embeddings.parquet").unlink()
    result = update_index(paths, [key])
    assert result.removed == [key]
    assert _segment_count(paths, key) == 0
    assert search("Mars", paths=paths, mode="keyword").empty


def test_remove_episodes_drops_segments_and_episode_rows(paths: DataPaths, files: list[str]) -> None:
    update_index(paths, files)
    result = remove_episodes(paths, [ref("wohnen", 1), ref("wohnen", 2)])
    assert result.segments == N_SEGMENTS - 7
    assert result.episodes == N_EPISODES - 2
    with pytest.raises(InvalidKeyError):
        remove_episodes(paths, ["x' OR '1'='1"])


def test_bad_keys_and_empty_input_are_rejected_before_anything_is_written(paths: DataPaths, files: list[str]) -> None:
    with pytest.raises(InvalidKeyError):
        update_index(paths, ["../../etc"])
    with pytest.raises(SearchError, match="nothing to index"):
        update_index(paths, ["example-com-feed-1a2b3c4d--never-embedded-0123456789"])
    assert read_manifest(paths) is None
    assert not paths.search_dir.exists() or not any(paths.search_dir.glob("lancedb-*"))


def test_a_failed_first_build_leaves_no_index_behind(paths: DataPaths, files: list[str]) -> None:
    episode, _ = episodes_and_segments()[0]
    wrong = {files[1]: episode}  # metadata of another episode
    with pytest.raises(ValueError, match="paired with episode metadata"):
        update_index(paths, [files[1]], episodes=wrong)
    assert read_manifest(paths) is None
    assert not any(paths.search_dir.glob("lancedb-*"))


@pytest.fixture(scope="module")
def other_embedder(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    """The bundled model under another name (a local copy): a real, different embedding model to the index."""
    copy = shutil.copytree(bundled_model_dir(), tmp_path_factory.mktemp("models") / "minilm-copy")
    return load_embedder(str(copy))


def test_vectors_of_another_model_are_refused(paths: DataPaths, files: list[str], other_embedder: Embedder) -> None:
    update_index(paths, files)
    episode, segments = episodes_and_segments()[0]
    write_episode_embeddings(paths, episode.key, embed_episode(episode.key, segments, other_embedder))
    with pytest.raises(ModelMismatchError, match="re-embed them with the index's model, or rebuild"):
        update_index(paths, [episode.key])
    assert read_manifest(paths).model == "all-MiniLM-L6-v2"  # type: ignore[union-attr]


def test_a_model_change_can_rebuild_into_a_new_generation(
    paths: DataPaths, files: list[str], other_embedder: Embedder
) -> None:
    update_index(paths, files)
    old = read_manifest(paths)
    reader = SearchIndex.open(paths)  # a reader that opened the index before the switch
    episode, segments = episodes_and_segments()[0]
    write_episode_embeddings(paths, episode.key, embed_episode(episode.key, segments, other_embedder))

    result = update_index(paths, [episode.key], on_model_change="rebuild")

    new = read_manifest(paths)
    assert result.rebuilt and new.model == other_embedder.model_name  # type: ignore[union-attr]
    assert new.generation != old.generation  # type: ignore[union-attr]
    assert result.episodes == 1 and len(result.skipped) == N_EPISODES - 1  # the rest waits for re-embedding
    assert all("embedded with all-MiniLM-L6-v2" in why for why in result.skipped.values())
    assert search("sourdough", paths=paths).episode_key.unique().tolist() == [episode.key]
    assert len(reader.search("Mars", mode="keyword")) > 0  # the old generation is still readable
    rebuild_index(paths, model=other_embedder.model_name)
    assert not (paths.search_dir / old.generation).exists()  # type: ignore[union-attr]  # pruned a switch later


def test_rebuild_without_a_model_refuses_mixed_embeddings(
    paths: DataPaths, files: list[str], other_embedder: Embedder
) -> None:
    episode, segments = episodes_and_segments()[0]
    write_episode_embeddings(paths, episode.key, embed_episode(episode.key, segments, other_embedder))
    with pytest.raises(ModelMismatchError, match="several models"):
        rebuild_index(paths)
    assert read_manifest(paths) is None
    assert not any(paths.search_dir.glob("lancedb-*"))


def test_german_stemming_follows_the_feed_language(paths: DataPaths, files: list[str]) -> None:
    german = [(e, s) for e, s in episodes_and_segments() if e.language == "de-DE"]
    as_german = {e.key: e for e, _ in german}
    as_unknown = {e.key: dataclasses.replace(e, language=None) for e, _ in german}
    update_index(paths, list(as_unknown), episodes=as_unknown)
    assert search("Häuser", paths=paths, mode="keyword").empty  # no stemmer: "häuser" is not "haus"
    update_index(paths, list(as_german), episodes=as_german)
    assert search("Häuser", paths=paths, mode="keyword").text.tolist() == [
        "Wir haben letztes Jahr ein Haus auf dem Land gekauft."
    ]


def test_full_text_indexes_exist_for_the_languages_present(paths: DataPaths, files: list[str]) -> None:
    update_index(paths, files)
    index = SearchIndex.open(paths)
    assert index.fts == ["text_en", "text_de"]
    episode_fts = {c for ix in index.episodes.list_indices() for c in ix.columns if ix.index_type == "FTS"}
    assert episode_fts == {"title_en", "title_de", "description_en", "description_de"}  # for notebooks
    details = {ix.columns[0]: ix for ix in index.segments.list_indices()}
    assert details["feed_key"].index_type == details["published"].index_type == "BTree"  # pre-filters
    assert index.segments.index_stats(details["text_de"].name).num_indexed_rows == N_SEGMENTS  # type: ignore[union-attr]


def _synthetic(
    paths: DataPaths, n_episodes: int, per_episode: int, config: VectorIndexConfig, dim: int = 384
) -> dict[str, pa.Table]:
    rng = np.random.default_rng(7)
    episode, _ = episodes_and_segments()[0]
    episodes, tables = {}, {}
    for e in range(n_episodes):
        key = f"{episode.feed_key}--synthetic-{e:04d}"
        episodes[key] = dataclasses.replace(episode, key=key)
        vectors = rng.normal(size=(per_episode, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        schema = embeddings_schema(dim, "all-MiniLM-L6-v2")
        columns = [
            [key] * per_episode, list(range(per_episode)), [0] * per_episode, [float(i) for i in range(per_episode)],
            [i + 1.0 for i in range(per_episode)], [None] * per_episode,
            [f"synthetic phrase {e} {i}" for i in range(per_episode)], ["all-MiniLM-L6-v2"] * per_episode,
        ]  # fmt: skip
        arrays = [pa.array(c, type=schema.field(i).type) for i, c in enumerate(columns)]
        arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim))
        tables[key] = pa.Table.from_arrays(arrays, schema=schema)
    update_index(paths, list(tables), tables=tables, episodes=episodes, vector_config=config)
    return tables


@pytest.mark.parametrize(
    ("index_type", "shown_as"), [("IVF_SQ", "IvfSq"), ("IVF_PQ", "IvfPq"), ("IVF_HNSW_SQ", "IvfHnswSq")]
)
def test_an_ann_index_is_trained_only_above_the_threshold(paths: DataPaths, index_type: str, shown_as: str) -> None:
    config = VectorIndexConfig(min_rows=1000, index_type=index_type, refine_factor=10)  # type: ignore[arg-type]
    tables = _synthetic(paths, n_episodes=4, per_episode=200, config=config)
    assert read_manifest(paths).vector_index_rows == 0  # type: ignore[union-attr]
    assert not [ix for ix in SearchIndex.open(paths).segments.list_indices() if ix.columns == ["vector"]]

    tables |= _synthetic(paths, n_episodes=8, per_episode=200, config=config)  # 1,600 rows now
    index = SearchIndex.open(paths, config)
    assert index.manifest.vector_index_rows == 1600
    assert [ix.index_type for ix in index.segments.list_indices() if ix.columns == ["vector"]] == [shown_as]
    probe = tables[sorted(tables)[5]]
    vector = probe.column("vector")[17].values.to_numpy()
    hits = index.semantic_segments(vector, parse_query("x"), None, 10, min_similarity=-1.0)
    assert (hits[0]["episode_key"], hits[0]["segment_index"]) == (sorted(tables)[5], 17)
    assert hits[0]["_score"] == pytest.approx(1.0, abs=1e-4)  # refined on the full vector


def test_auto_picks_a_graph_index_for_large_tables_and_ivf_below() -> None:
    config = VectorIndexConfig()
    assert config.index_type == "auto"
    assert config.index_type_for(config.hnsw_min_rows - 1) == "IVF_SQ"  # a partition scan is fast enough
    assert config.index_type_for(config.hnsw_min_rows) == "IVF_HNSW_SQ"  # a scan would visit too many rows
    assert VectorIndexConfig(index_type="IVF_SQ").index_type_for(10**7) == "IVF_SQ"  # an explicit choice wins


def _vector_index_types(paths: DataPaths) -> list[str]:
    return [ix.index_type for ix in SearchIndex.open(paths).segments.list_indices() if ix.columns == ["vector"]]


def test_an_auto_index_turns_into_a_graph_when_a_retrain_crosses_the_threshold(paths: DataPaths) -> None:
    config = VectorIndexConfig(min_rows=500, hnsw_min_rows=1000, refine_factor=10)
    _synthetic(paths, n_episodes=3, per_episode=200, config=config)  # 600 rows: trained as IVF_SQ
    assert _vector_index_types(paths) == ["IvfSq"]
    _synthetic(paths, n_episodes=5, per_episode=200, config=config)  # 1,000: new rows join the trained index
    assert (read_manifest(paths).vector_index_rows, _vector_index_types(paths)) == (600, ["IvfSq"])  # type: ignore[union-attr]
    tables = _synthetic(paths, n_episodes=6, per_episode=200, config=config)  # 1,200 = 2 x 600: re-trained
    index = SearchIndex.open(paths, config)
    assert (index.manifest.vector_index_rows, index.hnsw, _vector_index_types(paths)) == (1200, True, ["IvfHnswSq"])
    probe = sorted(tables)[4]
    hits = index.semantic_segments(
        tables[probe].column("vector")[3].values.to_numpy(), parse_query("x"), None, 10, -1.0
    )
    assert (hits[0]["episode_key"], hits[0]["segment_index"]) == (probe, 3)


def test_the_analytics_snapshot_mirrors_the_index_and_joins_the_catalog(paths: DataPaths, files: list[str]) -> None:
    update_index(paths, files)
    con = connect_analytics(paths)
    assert con.execute("SELECT count(*) FROM segments").fetchone() == (N_SEGMENTS,)
    assert con.execute("SELECT count(*), sum(segments) FROM episodes").fetchone() == (N_EPISODES, N_SEGMENTS)
    per_language = dict(con.execute("SELECT language, count(*) FROM segments GROUP BY ALL").fetchall())
    assert per_language == {"en": N_SEGMENTS - 7, "de": 7}
    with catalog.connect(paths) as cat:
        assert cat.execute("SELECT count(*) FROM search_segments").fetchone() == (N_SEGMENTS,)
    assert not [p.name for p in paths.search_dir.iterdir() if p.name.startswith(".")]  # no temp files
