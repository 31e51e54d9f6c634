"""Errors of the search layer, each with a message that tells the reader what to do next.

The CLI, the notebooks and the Dagster asset checks show these messages as they are, so they name the
missing piece (index, package, model) and the command or setting that fixes it.
"""

from __future__ import annotations


class SearchError(Exception):
    """Base class: anything the search layer refuses to do."""


class IndexNotBuiltError(SearchError):
    """No search index exists yet under the data directory."""


class IndexDamagedError(SearchError):
    """Files of the search index exist but cannot be read (garbage, truncation): rebuild it from the episodes."""


class ModelMismatchError(SearchError):
    """Vectors from two embedding models would end up in one index (their distances are meaningless)."""


class ExtensionMissingError(SearchError):
    """A DuckDB extension cannot be loaded because its PyPI package is not installed."""


class EmbeddingModelError(SearchError):
    """The configured embedding model cannot be loaded (offline, wrong path or name)."""
