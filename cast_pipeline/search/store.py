"""Where the search index lives and what it holds: manifest, LanceDB generations, table schemas.

Layout under ``paths.search_dir``::

    manifest.json            which generation is live, its embedding model, vector-index state
    lancedb-<generation>/    LanceDB database with the tables ``segments`` and ``episodes``
    analytics.duckdb         DuckDB snapshot of both tables without vectors (catalog joins, analytics)

Why generations: an incremental update changes the live LanceDB tables in place (every LanceDB commit
is atomic, so readers see an episode's old rows or its new rows), but a full rebuild, for instance after
an embedding-model change, is written into a fresh directory and goes live by rewriting the manifest
atomically. Readers therefore never see a half-built index, and the previous generation is kept until
the next rebuild so a reader that opened it just before the switch can finish.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from cast_pipeline.paths import DataPaths, write_text_atomic
from cast_pipeline.search.errors import IndexDamagedError, IndexNotBuiltError
from cast_pipeline.search.languages import fts_columns

if TYPE_CHECKING:  # lancedb costs ~1 s CPU to import: imported when a database is opened
    import lancedb

MANIFEST = "manifest.json"
SEGMENTS = "segments"
EPISODES = "episodes"
ANALYTICS_DB = "analytics.duckdb"
FORMAT = 2  # 2: one row per passage (segment_index, passage_index); older indexes are rebuilt


@dataclass(frozen=True)
class Manifest:
    generation: str  # directory name of the live LanceDB database under search/
    model: str  # embedding model of every vector in this generation
    dim: int
    vector_index_rows: int = 0  # rows when the ANN index was trained; 0 = none (exact search)
    updated: str = ""
    format: int = FORMAT

    def touched(self, **changes: object) -> Manifest:
        return replace(self, updated=datetime.now(UTC).isoformat(timespec="seconds"), **changes)  # type: ignore[arg-type]


def manifest_path(paths: DataPaths) -> Path:
    return paths.search_dir / MANIFEST


def read_manifest(paths: DataPaths) -> Manifest | None:
    """The live manifest, or None when no index was ever built."""
    source = manifest_path(paths)
    if not source.is_file():
        return None
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"a JSON {type(data).__name__}, not an object")
        if data.get("format") != FORMAT:
            raise IndexNotBuiltError(
                f"the search index manifest {source} has format {data.get('format')}, not {FORMAT}"
            )
        return Manifest(**data)
    except (ValueError, TypeError) as exc:  # garbage, truncation, unknown or missing fields
        raise IndexDamagedError(
            f"the search index manifest {source} is damaged ({type(exc).__name__}: {str(exc)[:120]})"
        ) from None


def require_manifest(paths: DataPaths) -> Manifest:
    manifest = read_manifest(paths)
    if manifest is None:
        raise IndexNotBuiltError(
            f"no search index in {paths.search_dir} yet: run the pipeline (materialise the search_index asset, "
            "or `cast-pipeline run`) first"
        )
    return manifest


def write_manifest(paths: DataPaths, manifest: Manifest) -> None:
    write_text_atomic(manifest_path(paths), json.dumps(asdict(manifest), indent=1) + "\n")


def new_generation() -> str:
    return f"lancedb-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"


def _quiet_lance() -> None:
    # Lance warns at every index update that its index statistics will stop including the IVF centroids;
    # we never read them, so opt in to the new behaviour (also less memory) unless the user chose.
    os.environ.setdefault("LANCE_INCLUDE_VECTOR_CENTROIDS", "false")


def connect(paths: DataPaths, generation: str) -> lancedb.DBConnection:
    import lancedb

    _quiet_lance()
    return lancedb.connect(str(paths.search_dir / generation))


async def connect_async(paths: DataPaths, generation: str) -> lancedb.AsyncConnection:
    """The same generation on LanceDB's async API (what queries use, see cast_pipeline.search.aio)."""
    import lancedb

    _quiet_lance()
    return await lancedb.connect_async(str(paths.search_dir / generation))


def drop_generation(paths: DataPaths, generation: str) -> None:
    """Delete one generation directory (a failed build that never went live)."""
    if not generation.startswith("lancedb-") or "/" in generation:
        raise ValueError(f"not a generation name: {generation!r}")
    shutil.rmtree(paths.search_dir / generation, ignore_errors=True)


def prune_generations(paths: DataPaths, keep: set[str]) -> list[str]:
    """Delete generation directories not in ``keep``; returns their names."""
    removed = []
    for child in sorted(paths.search_dir.glob("lancedb-*")):
        if child.is_dir() and child.name not in keep:
            shutil.rmtree(child, ignore_errors=True)
            removed.append(child.name)
    return removed


def segments_schema(dim: int) -> pa.Schema:
    """Passages of segments with their episode's metadata denormalised, so a hit needs no join to be shown."""
    fields = [
        ("episode_key", pa.string()),
        ("segment_index", pa.int32()),
        ("passage_index", pa.int32()),
        ("feed_key", pa.string()),
        ("feed_title", pa.string()),
        ("title", pa.string()),
        ("published", pa.timestamp("us", tz="UTC")),
        ("enclosure_url", pa.string()),
        ("language", pa.string()),
        ("start", pa.float64()),
        ("end", pa.float64()),
        ("speaker", pa.string()),
        ("text", pa.string()),
        ("model", pa.string()),
        ("vector", pa.list_(pa.float32(), dim)),
    ]
    fields += [(col, pa.string()) for col in fts_columns("text").values()]
    return pa.schema(fields)


def episodes_schema() -> pa.Schema:
    """One row per indexed episode: title and description (per-language copies for full-text search)."""
    fields = [
        ("episode_key", pa.string()),
        ("feed_key", pa.string()),
        ("feed_url", pa.string()),
        ("feed_title", pa.string()),
        ("title", pa.string()),
        ("description", pa.string()),
        ("published", pa.timestamp("us", tz="UTC")),
        ("enclosure_url", pa.string()),
        ("language", pa.string()),
        ("segments", pa.int32()),
        ("model", pa.string()),
    ]
    fields += [(col, pa.string()) for col in fts_columns("title").values()]
    fields += [(col, pa.string()) for col in fts_columns("description").values()]
    return pa.schema(fields)
