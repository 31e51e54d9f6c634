"""DuckDB beside LanceDB: the analytics snapshot, and BM25 keyword search for comparison.

Why both engines: LanceDB's native full-text index answers a keyword query in milliseconds and lives
next to the vectors, so the online search path uses it. bench/bench_search.py on 1,000,000 segments
(2 cores): LanceDB top-10 p50 7.6 ms / p95 12 ms at 300 MiB RSS; DuckDB ``fts`` BM25 p50 102 ms / p95
157 ms at 1.5 GiB (index build 9 s vs 11 s; 81 % of the top 10 agree). DuckDB is the better tool for
catalog joins, feed/date filters over many rows and analytics, so every index update also writes
``search/analytics.duckdb``: the ``segments`` (without vectors) and ``episodes`` tables as a snapshot.
The catalog's DuckDB connection (:func:`cast_pipeline.feeds.catalog.connect`) shows the segments as view
``search_segments``.

Why a snapshot file replaced atomically instead of a live database: DuckDB allows one read-write
process per file, and a notebook holding the file open would block the index writer. Readers open the
snapshot read-only; the writer builds a new file beside it and renames it into place.

DuckDB cannot download extensions here: ``fts`` is loaded from the ``duckdb-extension-fts`` package
(and ``vss`` from ``duckdb-extension-vss``) and a missing package is a clear error.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from cast_pipeline.feeds.catalog import register_view
from cast_pipeline.paths import DataPaths
from cast_pipeline.search import store
from cast_pipeline.search.errors import ExtensionMissingError, IndexNotBuiltError
from cast_pipeline.search.languages import LANGUAGES

if TYPE_CHECKING:
    from lancedb import DBConnection

_SEGMENT_COLUMNS = [
    "episode_key", "segment_index", "passage_index", "feed_key", "feed_title", "title", "published",
    "enclosure_url", "language", "start", "end", "speaker", "text", "model",
]  # fmt: skip
_EPISODE_COLUMNS = [
    "episode_key", "feed_key", "feed_url", "feed_title", "title", "description", "published",
    "enclosure_url", "language", "segments", "model",
]  # fmt: skip


def extension_file(name: str) -> Path:
    """The ``<name>.duckdb_extension`` shipped in the ``duckdb-extension-<name>`` package for this DuckDB."""
    package = f"duckdb_extension_{name}"
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ExtensionMissingError(
            f"DuckDB extension {name!r} is not available offline: "
            f"pip install duckdb-extension-{name}=={duckdb.__version__}"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    wanted = root / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not wanted.is_file():
        found = sorted(p.parent.name for p in root.rglob(f"{name}.duckdb_extension"))
        raise ExtensionMissingError(
            f"duckdb-extension-{name} ships builds for {found or 'no version'}, but DuckDB is {duckdb.__version__}: "
            f"pip install duckdb-extension-{name}=={duckdb.__version__}"
        )
    return wanted


def connect(
    database: str | Path = ":memory:", *, read_only: bool = False, extensions: tuple[str, ...] = ()
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that never tries to download anything, with ``extensions`` loaded from PyPI packages."""
    config = {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
    con = duckdb.connect(str(database), read_only=read_only, config=config)
    # Long index builds would otherwise draw bars into logs. Inside Jupyter without ipywidgets DuckDB has
    # already switched the bar off and refuses to touch the setting at all, so only turn off what is on.
    if con.execute("SELECT current_setting('enable_progress_bar')").fetchone() == (True,):
        con.execute("SET enable_progress_bar = false")
    for name in extensions:
        con.execute(f"LOAD '{extension_file(name)}'")
    return con


def analytics_path(paths: DataPaths) -> Path:
    return paths.search_dir / store.ANALYTICS_DB


def export_analytics(paths: DataPaths, db: DBConnection) -> Path:
    """Write the DuckDB snapshot of the LanceDB tables of ``db`` and rename it into place."""
    target = analytics_path(paths)
    tmp = target.with_name(f".{target.stem}.{secrets.token_hex(4)}.duckdb")
    try:
        con = connect(tmp)
        try:
            for name, columns in ((store.SEGMENTS, _SEGMENT_COLUMNS), (store.EPISODES, _EPISODE_COLUMNS)):
                reader = db.open_table(name).search().select(columns).limit(None).to_batches()
                con.register("lance_source", reader)
                con.execute(f"CREATE TABLE {name} AS SELECT * FROM lance_source")
                con.unregister("lance_source")
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.replace(tmp, target)
    finally:
        for leftover in (tmp, Path(f"{tmp}.wal")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    return target


@register_view("search_segments")
def _search_segments_view(con: duckdb.DuckDBPyConnection, paths: DataPaths) -> None:
    """``search_segments`` in :func:`cast_pipeline.feeds.catalog.connect`: the indexed phrases, joinable with
    the catalog's ``episodes`` view on ``episode_key`` (empty until the index exists)."""
    source = analytics_path(paths)
    if source.is_file():
        con.execute(f"ATTACH '{source}' AS search_index (READ_ONLY)")
        con.execute("CREATE OR REPLACE VIEW search_segments AS SELECT * FROM search_index.segments")
    else:
        con.execute(
            "CREATE OR REPLACE VIEW search_segments AS SELECT NULL::VARCHAR AS episode_key, NULL::INTEGER AS "
            "segment_index, NULL::INTEGER AS passage_index, NULL::DOUBLE AS start, "
            'NULL::DOUBLE AS "end", NULL::VARCHAR AS text WHERE false'
        )


def connect_analytics(paths: DataPaths) -> duckdb.DuckDBPyConnection:
    """Read-only DuckDB connection to the snapshot: tables ``segments`` and ``episodes``."""
    source = analytics_path(paths)
    if not source.is_file():
        raise IndexNotBuiltError(
            f"no analytics snapshot at {source}: run the pipeline (materialise the search_index asset) first"
        )
    return connect(source, read_only=True)


def build_keyword_index(con: duckdb.DuckDBPyConnection, code: str = "en", *, source: str = "segments") -> str:
    """DuckDB ``fts`` BM25 index over the ``code`` segments of ``source``; returns the indexed table name.

    DuckDB has one stemmer per index, so each language gets its own table ``<source>_fts_<code>``.
    """
    lang = LANGUAGES[code]
    con.execute(f"LOAD '{extension_file('fts')}'")
    name = f"{source}_fts_{code}"
    con.execute(
        f"CREATE OR REPLACE TABLE {name} AS SELECT row_number() OVER () AS doc_id, episode_key, segment_index, text "
        f"FROM {source} WHERE language = ?",
        [code],
    )
    stopwords = "english" if code == "en" else "none"
    con.execute(
        f"PRAGMA create_fts_index('{name}', 'doc_id', 'text', stemmer='{lang.duckdb}', "
        f"stopwords='{stopwords}', strip_accents=1, lower=1, overwrite=1)"
    )
    return name


def keyword_search(
    con: duckdb.DuckDBPyConnection, query: str, *, table: str, limit: int = 10
) -> list[tuple[str, int, float]]:
    """BM25 top ``limit`` of a :func:`build_keyword_index` table: (episode_key, segment_index, score)."""
    sql = (
        f"SELECT episode_key, segment_index, score FROM (SELECT *, fts_main_{table}.match_bm25(doc_id, ?) AS score "
        f"FROM {table}) WHERE score IS NOT NULL ORDER BY score DESC LIMIT ?"
    )
    return [(str(e), int(i), float(s)) for e, i, s in con.execute(sql, [query, limit]).fetchall()]
