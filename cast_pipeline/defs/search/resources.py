"""The ``embedding_model`` resource: which sentence-transformers model embeds phrases, loaded once per run.

Why a resource: the launchpad can override the model per run, tests choose theirs, and the model is
loaded lazily, only when a run actually has a phrase to embed (a batch whose embeddings are all current
never loads it). :func:`cast_pipeline.search.load_embedder` caches models per process, so a run over
25 episodes, and every later run in the same process, loads it once.
"""

from __future__ import annotations

import dagster as dg

from cast_pipeline.search import Embedder, load_embedder
from cast_pipeline.search.embeddings import resolve_model
from cast_pipeline.settings import load_settings


class EmbeddingModel(dg.ConfigurableResource):
    """Embedding model name or local directory; unset: the CAST_EMBEDDING_MODEL setting."""

    model: str | None = None

    @property
    def configured(self) -> str:
        """The model as configured (resource field, else setting)."""
        return self.model or load_settings().embedding_model

    def name(self) -> str:
        """The name its vectors are stored under (``all-MiniLM-L6-v2``, or a directory's absolute path)."""
        return resolve_model(self.configured)[0]

    def embedder(self) -> Embedder:
        """The loaded model (first call loads it; later calls in this process reuse it)."""
        return load_embedder(self.configured)


def describe_model(resource: EmbeddingModel) -> str:
    """The model name for code versions; the raw setting when it cannot be resolved (shown, not fatal)."""
    try:
        return resource.name()
    except Exception:  # a broken setting must not stop the definitions from loading; the run says why
        return resource.configured
