"""Query encoding without torch: the embedding model exported once to ONNX, run by ONNX Runtime.

Why: a cold ``cast-pipeline search`` spent most of its 7-8 s importing torch and loading
sentence-transformers to embed one short query. ONNX Runtime (already installed for faster-whisper)
and the ``tokenizers`` package load the same weights in well under a second. The graph we export
contains the whole sentence-transformers pipeline of a mean-pooling model (transformer, mean pooling
over the attention mask, L2 normalisation), so its vectors match ``Embedder.encode`` (cosine >= 0.999,
tested) and can be compared with the phrase vectors in the index.

The graph is exported with plain ("eager") attention, which ONNX Runtime's transformer optimizer can
fuse into one ``Attention`` node per layer (plus ``SkipLayerNormalization``, ``BiasGelu`` and
``EmbedLayerNormalization``): 62 nodes instead of ~350 for all-MiniLM-L6-v2, and a query encodes in
0.85-0.93x the time (session 19, same process, interleaved). The fused graph is kept only if it gives
the same vectors as the unfused one on a padded batch (:func:`fuse_transformer_ops`).

The export needs torch and happens once per model at first use; the ``.onnx`` file is cached under
``CAST_CACHE_DIR`` (atomically written, keyed by the weights' size and mtime, so a changed model is
re-exported). Only local sentence-transformers directories (the bundled all-MiniLM-L6-v2 or a path)
whose pipeline is Transformer -> mean Pooling [-> Normalize] qualify; anything else, or any failure,
falls back to the sentence-transformers :class:`~cast_pipeline.search.embeddings.Embedder`.

Queries longer than the model window are truncated here (phrases at indexing time are chunked and
pooled instead); the search API caps queries far below that window's size in characters.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from cast_pipeline.paths import atomic_path
from cast_pipeline.search.embeddings import load_embedder, resolve_model

log = logging.getLogger(__name__)
EXPORT_FORMAT = "st-mean-v2"  # bump when the exported graph changes (v2: eager attention, fused)
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class QueryEncoder(Protocol):
    model_name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class ModelFiles:
    """What the export needs to know about a local sentence-transformers directory."""

    directory: Path
    max_seq_length: int
    dim: int
    normalize: bool


def model_files(directory: Path) -> ModelFiles | None:
    """The directory's layout when it is a mean-pooling sentence-transformers model with a fast tokenizer."""
    try:
        modules = json.loads((directory / "modules.json").read_text(encoding="utf-8"))
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
            return None
        pooling_dir = next(m["path"] for m in modules if m["type"].endswith("Pooling"))
        pooling = json.loads((directory / pooling_dir / "config.json").read_text(encoding="utf-8"))
        if not pooling.get("pooling_mode_mean_tokens") or any(
            pooling.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens")
        ):
            return None
        config = json.loads((directory / "sentence_bert_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, StopIteration):
        return None
    if not (directory / "tokenizer.json").is_file():
        return None
    return ModelFiles(
        directory=directory,
        max_seq_length=int(config.get("max_seq_length") or 256),
        dim=int(pooling["word_embedding_dimension"]),
        normalize=kinds[-1] == "Normalize",
    )


def cache_dir() -> Path:
    from cast_pipeline.settings import load_settings

    return load_settings().cache_dir / "onnx"


def cached_model_path(files: ModelFiles, cache: Path | None = None) -> Path:
    """Where the export of ``files`` is cached: named after the model, keyed by its weights."""
    weights = sorted(p for p in files.directory.glob("*") if p.suffix in (".safetensors", ".bin"))
    stamp = "|".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in weights)
    digest = hashlib.sha256(f"{EXPORT_FORMAT}|{files.directory.resolve()}|{stamp}".encode()).hexdigest()[:16]
    return (cache or cache_dir()) / f"{files.directory.name}-{digest}.onnx"


def export_model(files: ModelFiles, target: Path) -> Path:
    """Export transformer + mean pooling (+ normalisation) to ``target`` (needs torch; seconds, once)."""
    import warnings

    import torch
    from transformers import AutoModel

    # eager attention: the scaled-dot-product export hides the pattern the fusion below looks for
    base = AutoModel.from_pretrained(str(files.directory), attn_implementation="eager")
    base.eval()

    class SentenceEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.base = base

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.base(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1) if files.normalize else mean

    sample = torch.ones((2, 8), dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in _INPUTS} | {"embedding": {0: "batch"}}
    with atomic_path(target) as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            SentenceEncoder(),
            (sample, sample, torch.zeros_like(sample)),
            str(tmp),
            input_names=list(_INPUTS),
            output_names=["embedding"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
        heads, hidden = getattr(base.config, "num_attention_heads", 0), getattr(base.config, "hidden_size", 0)
        fuse_transformer_ops(tmp, num_heads=heads, hidden_size=hidden)
    return target


def fuse_transformer_ops(path: Path, *, num_heads: int, hidden_size: int) -> bool:
    """Rewrite the exported graph at ``path`` with ONNX Runtime's BERT fusions if they keep its vectors.

    Returns whether it did; a model the optimizer does not understand (or a fusion that changes the
    output, checked on a padded batch) keeps the unfused graph, which is slower, not wrong.
    """
    candidate = path.with_name(path.name + ".fused.tmp")
    try:
        import onnxruntime.transformers
        from onnxruntime.transformers.optimizer import optimize_model

        for module in Path(onnxruntime.transformers.__file__).parent.glob("*.py"):  # loggers named by module:
            logging.getLogger(module.stem).setLevel(logging.ERROR)  # a page of "fused ..." notes at INFO
        fused = optimize_model(str(path), model_type="bert", num_heads=num_heads, hidden_size=hidden_size, opt_level=0)
        fused.save_model_to_file(str(candidate))
        if not _same_vectors(path, candidate):
            log.warning("the fused ONNX graph of %s changes its vectors; keeping the unfused graph", path.name)
            return False
        os.replace(candidate, path)
        return True
    except Exception as exc:  # an architecture the optimizer does not know: the unfused graph works
        log.info("no operator fusion for %s (%s: %s)", path.name, exc.__class__.__name__, exc)
        return False
    finally:
        candidate.unlink(missing_ok=True)


def _same_vectors(reference: Path, candidate: Path) -> bool:
    """Both graphs embed a padded batch (lengths 12, 5, 1) to the same vectors (cosine >= 0.99999)."""
    ids = np.zeros((3, 12), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, length in enumerate((12, 5, 1)):
        ids[row, :length] = np.arange(length) * 37 % 900 + 100  # ordinary word pieces in any BERT vocabulary
        mask[row, :length] = 1
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    a, b = (_session(p).run(["embedding"], feeds)[0] for p in (reference, candidate))
    cosines = (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    return bool(np.all(cosines >= 0.99999) and np.allclose(a, b, atol=1e-3))


@dataclass(frozen=True, eq=False)
class OnnxQueryEncoder:
    """The exported model in an ONNX Runtime session plus its tokenizer; thread-safe."""

    model_name: str
    dim: int
    _session: Any
    _tokenizer: Any

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError("encode takes a sequence of strings")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encoded = self._tokenizer.encode_batch(list(texts))
        feeds = {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
        }
        return np.ascontiguousarray(self._session.run(["embedding"], feeds)[0], dtype=np.float32)


def _session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    # One thread, no spin-waiting: a query is a handful of tokens (a second thread saved <1 ms), and the
    # service runs the encoder next to LanceDB's searches and other requests, whose cores spinning
    # threads would take (bench/bench_search.py, 8 concurrent clients on 2 cores).
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def load_onnx_encoder(model_name: str, files: ModelFiles, *, cache: Path | None = None) -> OnnxQueryEncoder:
    """The ONNX encoder of ``files``, exporting it first when the cache has none."""
    from tokenizers import Tokenizer

    target = cached_model_path(files, cache)
    if not target.is_file():
        log.info("exporting %s to ONNX for fast query encoding (once): %s", model_name, target)
        export_model(files, target)
    session = _session(target)
    tokenizer = Tokenizer.from_file(str(files.directory / "tokenizer.json"))
    tokenizer.enable_truncation(files.max_seq_length)
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]") or 0)
    return OnnxQueryEncoder(model_name=model_name, dim=files.dim, _session=session, _tokenizer=tokenizer)


_cache: dict[str, QueryEncoder] = {}
_lock = threading.Lock()


def load_query_encoder(model: str) -> QueryEncoder:
    """The fastest encoder for queries to an index of ``model`` vectors, loaded once per process.

    ONNX when the model qualifies and ``CAST_QUERY_ENCODER`` is ``onnx`` (the default), else the
    sentence-transformers embedder; a failing ONNX path logs why and falls back.
    """
    from cast_pipeline.settings import load_settings

    if (known := _cache.get(model)) is not None:  # a query's path: no model lookup on disk (~1 ms)
        return known
    name, target = resolve_model(model)
    with _lock:
        if name in _cache:
            _cache[model] = _cache[name]
            return _cache[name]
        encoder: QueryEncoder | None = None
        files = model_files(Path(target)) if Path(target).is_dir() else None
        if files is not None and load_settings().query_encoder == "onnx":
            try:
                encoder = load_onnx_encoder(name, files)
            except Exception as exc:  # missing onnxruntime/torch, export failure: the slow path still works
                log.warning(
                    "ONNX query encoder unavailable for %s (%s: %s); using sentence-transformers",
                    name,
                    exc.__class__.__name__,
                    exc,
                )
        _cache[name] = _cache[model] = encoder or load_embedder(model)
        return _cache[name]
