"""Phrase embeddings: the bundled model offline, model names stored with vectors, atomic Parquet files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from cast_pipeline.keys import InvalidKeyError
from cast_pipeline.paths import DataPaths
from cast_pipeline.search import (
    Embedder,
    EmbeddingModelError,
    embed_episode,
    embeddings_are_current,
    load_embedder,
    read_episode_embeddings,
    write_episode_embeddings,
)
from cast_pipeline.search.embeddings import BUNDLED_MODEL, bundled_model_dir, resolve_model, table_model
from cast_pipeline.segments import Segment

KEY = "example-com-feed-1a2b3c4d--ep-1-0123456789"
SEGMENTS = [
    Segment(0.0, 4.5, "Welcome to the show.", speaker="Ana"),
    Segment(4.5, 9.0, "   "),
    Segment(9.0, 15.25, "Today we talk about bread baking."),
]


def test_the_default_setting_resolves_to_the_bundled_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAST_EMBEDDING_MODEL", raising=False)
    embedder = load_embedder()
    assert embedder.model_name == BUNDLED_MODEL
    assert embedder.dim == 384
    assert load_embedder("sentence-transformers/all-MiniLM-L6-v2") is embedder  # loaded once per process
    assert (bundled_model_dir() / "model.safetensors").is_file()


def test_vectors_are_unit_length_float32_and_capture_meaning(embedder: Embedder) -> None:
    vectors = embedder.encode(["How do I bake bread?", "A recipe for a sourdough loaf", "Tax deadlines in April"])
    assert vectors.dtype == np.float32
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert embedder.encode([]).shape == (0, 384)
    with pytest.raises(TypeError):
        embedder.encode("not a list")  # type: ignore[arg-type]


def test_a_local_model_directory_is_stored_under_its_absolute_path(tmp_path: Path) -> None:
    copy = shutil.copytree(bundled_model_dir(), tmp_path / "my-model")
    assert resolve_model(str(copy)) == (str(copy), str(copy))
    assert resolve_model("paraphrase-multilingual-MiniLM-L12-v2") == ("paraphrase-multilingual-MiniLM-L12-v2",) * 2


def test_a_model_that_is_neither_bundled_nor_local_nor_cached_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingModelError, match="cannot load embedding model 'no-such-org/no-such-model'"):
        load_embedder("no-such-org/no-such-model")
    with pytest.raises(EmbeddingModelError, match="no embedding model configured"):
        resolve_model(" ")


def test_embed_episode_gives_one_row_per_non_blank_segment(embedder: Embedder) -> None:
    table = embed_episode(KEY, SEGMENTS, embedder)
    assert table.column_names == [
        "episode_key", "segment_index", "passage_index", "start", "end", "speaker", "text", "model", "vector",
    ]  # fmt: skip
    assert table.column("segment_index").to_pylist() == [0, 2]  # the blank segment 1 has no row
    assert table.column("passage_index").to_pylist() == [0, 0]  # short phrases are one passage each
    assert table.column("speaker").to_pylist() == ["Ana", None]
    assert table.column("end").to_pylist() == [4.5, 15.25]
    assert set(table.column("model").to_pylist()) == {BUNDLED_MODEL}
    assert table.schema.field("vector").type == pa.list_(pa.float32(), 384)
    assert table_model(table) == BUNDLED_MODEL
    expected = embedder.encode(["Welcome to the show."])[0]
    np.testing.assert_allclose(table.column("vector")[0].values.to_numpy(), expected, atol=1e-6)


def test_embed_episode_rejects_a_bad_key(embedder: Embedder) -> None:
    with pytest.raises(InvalidKeyError):
        embed_episode("../escape", SEGMENTS, embedder)


def test_embeddings_round_trip_through_an_atomic_parquet_file(paths: DataPaths, embedder: Embedder) -> None:
    table = embed_episode(KEY, SEGMENTS, embedder)
    target = write_episode_embeddings(paths, KEY, table)
    assert target == paths.episode_file(KEY, "embeddings.parquet")
    assert [p.name for p in target.parent.iterdir()] == ["embeddings.parquet"]  # no temp file left behind
    back = read_episode_embeddings(paths, KEY)
    assert back.equals(table)
    assert table_model(back) == BUNDLED_MODEL


def test_model_change_makes_stored_embeddings_stale(paths: DataPaths, embedder: Embedder) -> None:
    assert not embeddings_are_current(paths, KEY, BUNDLED_MODEL)
    write_episode_embeddings(paths, KEY, embed_episode(KEY, SEGMENTS, embedder))
    assert embeddings_are_current(paths, KEY, "all-MiniLM-L6-v2")
    assert embeddings_are_current(paths, KEY, "sentence-transformers/all-MiniLM-L6-v2")
    assert not embeddings_are_current(paths, KEY, "paraphrase-multilingual-MiniLM-L12-v2")


def test_reading_missing_embeddings_names_the_asset(paths: DataPaths) -> None:
    with pytest.raises(FileNotFoundError, match="materialise its embeddings"):
        read_episode_embeddings(paths, KEY)


def test_a_table_of_another_episode_is_never_written(paths: DataPaths, embedder: Embedder) -> None:
    other = embed_episode("example-com-feed-1a2b3c4d--ep-2-0123456789", SEGMENTS, embedder)
    with pytest.raises(ValueError, match="rows of other episodes"):
        write_episode_embeddings(paths, KEY, other)
    assert not paths.episode_file(KEY, "embeddings.parquet").exists()
