"""The ONNX query encoder: same vectors as sentence-transformers, exported once and cached, safe fallback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cast_pipeline.search import Embedder
from cast_pipeline.search.embeddings import BUNDLED_MODEL, bundled_model_dir
from cast_pipeline.search.onnx_encoder import (
    OnnxQueryEncoder,
    cached_model_path,
    load_onnx_encoder,
    load_query_encoder,
    model_files,
)

QUERIES = [
    "how do I keep my sourdough starter alive",
    "Why do onions make you cry?",
    "rocket engines",
    "Wie funktioniert eine Wärmepumpe im Winter?",
    "a",
    "the economics of " + "very " * 30 + "long questions about interest rates and inflation",
]


@pytest.fixture(scope="module")
def onnx_encoder(cache_dir: Path) -> OnnxQueryEncoder:
    """Exported into the session's cache (conftest ``cache_dir``) unless another test did it first."""
    files = model_files(bundled_model_dir())
    assert files is not None
    return load_onnx_encoder(BUNDLED_MODEL, files)


def test_bundled_model_qualifies_for_onnx() -> None:
    files = model_files(bundled_model_dir())
    assert files is not None
    assert (files.dim, files.max_seq_length, files.normalize) == (384, 256, True)


def test_a_directory_that_is_not_a_mean_pooling_model_does_not_qualify(tmp_path: Path) -> None:
    assert model_files(tmp_path) is None
    (tmp_path / "modules.json").write_text('[{"type": "sentence_transformers.models.Transformer", "path": ""}]')
    assert model_files(tmp_path) is None


@pytest.mark.slow
def test_onnx_vectors_match_sentence_transformers(onnx_encoder: OnnxQueryEncoder, embedder: Embedder) -> None:
    ours = onnx_encoder.encode(QUERIES)
    reference = embedder.encode(QUERIES)
    assert ours.shape == reference.shape == (len(QUERIES), 384)
    cosines = (ours * reference).sum(axis=1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(reference, axis=1)
    assert cosines.min() >= 0.999, dict(zip(QUERIES, cosines.round(5), strict=True))
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)


@pytest.mark.slow
def test_one_query_alone_equals_the_same_query_in_a_padded_batch(onnx_encoder: OnnxQueryEncoder) -> None:
    alone = onnx_encoder.encode([QUERIES[2]])[0]
    batched = onnx_encoder.encode(QUERIES)[2]
    assert float(alone @ batched) > 0.9999


@pytest.mark.slow
def test_the_export_is_cached_and_keyed_by_the_weights(onnx_encoder: OnnxQueryEncoder, tmp_path: Path) -> None:
    files = model_files(bundled_model_dir())
    assert files is not None
    cache = Path(onnx_encoder._session._model_path).parent  # type: ignore[attr-defined]
    cached = cached_model_path(files, cache)
    assert cached.is_file() and cached.stat().st_size > 1_000_000
    mtime = cached.stat().st_mtime_ns
    load_onnx_encoder(BUNDLED_MODEL, files, cache=cache)  # second load: no new export
    assert cached.stat().st_mtime_ns == mtime
    assert not list(cache.glob(".*.tmp")), "no temp file left behind"


def test_the_sentence_transformers_setting_skips_onnx(monkeypatch: pytest.MonkeyPatch, embedder: Embedder) -> None:
    from cast_pipeline.search import onnx_encoder

    monkeypatch.setenv("CAST_QUERY_ENCODER", "sentence-transformers")
    monkeypatch.setattr(onnx_encoder, "_cache", {})
    assert isinstance(load_query_encoder(BUNDLED_MODEL), Embedder)
