"""The ONNX query encoder: same vectors as sentence-transformers, exported once and cached, safe fallback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cast_pipeline.search import Embedder
from cast_pipeline.search import onnx_encoder as onnx_module
from cast_pipeline.search.embeddings import BUNDLED_MODEL, bundled_model_dir
from cast_pipeline.search.onnx_encoder import (
    OnnxQueryEncoder,
    cached_model_path,
    export_model,
    fuse_transformer_ops,
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


def _op_types(path: Path) -> list[str]:
    import onnx

    return [node.op_type for node in onnx.load(str(path)).graph.node]


@pytest.fixture(scope="module")
def unfused_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled model exported as the encoder does, but without the fusion step."""
    files = model_files(bundled_model_dir())
    assert files is not None
    target = tmp_path_factory.mktemp("unfused") / "model.onnx"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(onnx_module, "fuse_transformer_ops", lambda *args, **kwargs: False)
        export_model(files, target)
    return target


@pytest.mark.slow
def test_the_exported_graph_has_one_fused_attention_node_per_layer(onnx_encoder: OnnxQueryEncoder) -> None:
    ops = _op_types(Path(onnx_encoder._session._model_path))  # type: ignore[attr-defined]
    assert ops.count("Attention") == 6 and ops.count("SkipLayerNormalization") == 12
    assert len(ops) < 100, f"{len(ops)} nodes: the fusion did not take"


@pytest.mark.slow
def test_a_fusion_that_would_change_the_vectors_is_refused(
    unfused_export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import onnx
    import onnxruntime.transformers.optimizer as optimizer
    from onnx import numpy_helper

    class WrongFusion:
        """What a faulty fusion would hand back: the same graph computing something else."""

        def __init__(self, source: str, **kwargs: object) -> None:
            self.model = onnx.load(source)
            weight = max(self.model.graph.initializer, key=lambda t: int(np.prod(t.dims)) if len(t.dims) == 2 else 0)
            weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight)[::-1].copy(), weight.name))

        def save_model_to_file(self, path: str) -> None:
            onnx.save(self.model, path)

    graph = tmp_path / "model.onnx"
    graph.write_bytes(unfused_export.read_bytes())
    monkeypatch.setattr(optimizer, "optimize_model", WrongFusion)
    assert fuse_transformer_ops(graph, num_heads=12, hidden_size=384) is False
    assert graph.read_bytes() == unfused_export.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"], "no candidate graph left behind"
    monkeypatch.undo()
    assert fuse_transformer_ops(graph, num_heads=12, hidden_size=384) is True
    assert "Attention" in _op_types(graph)


@pytest.mark.slow
def test_a_model_the_optimizer_cannot_handle_keeps_its_unfused_graph(
    unfused_export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import onnxruntime.transformers.optimizer as optimizer

    def unknown_architecture(*args: object, **kwargs: object) -> None:
        raise AttributeError("'NoneType' object has no attribute 'graph'")

    monkeypatch.setattr(optimizer, "optimize_model", unknown_architecture)
    graph = tmp_path / "model.onnx"
    graph.write_bytes(unfused_export.read_bytes())
    assert fuse_transformer_ops(graph, num_heads=12, hidden_size=384) is False
    assert graph.read_bytes() == unfused_export.read_bytes()


def test_the_sentence_transformers_setting_skips_onnx(monkeypatch: pytest.MonkeyPatch, embedder: Embedder) -> None:
    from cast_pipeline.search import onnx_encoder

    monkeypatch.setenv("CAST_QUERY_ENCODER", "sentence-transformers")
    monkeypatch.setattr(onnx_encoder, "_cache", {})
    assert isinstance(load_query_encoder(BUNDLED_MODEL), Embedder)
