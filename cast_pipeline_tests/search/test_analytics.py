"""DuckDB beside the index: extensions from PyPI packages only, BM25 per language on the snapshot."""

from __future__ import annotations

import duckdb
import pytest

from cast_pipeline.paths import DataPaths
from cast_pipeline.search import ExtensionMissingError, IndexNotBuiltError, connect_analytics
from cast_pipeline.search.analytics import build_keyword_index, connect, extension_file, keyword_search
from cast_pipeline_tests.search.corpus import ref


def test_extensions_come_from_the_matching_pypi_package() -> None:
    path = extension_file("fts")
    assert path.name == "fts.duckdb_extension"
    assert f"v{duckdb.__version__}" in str(path)
    con = connect(extensions=("fts",))
    loaded = con.execute("SELECT loaded FROM duckdb_extensions() WHERE extension_name = 'fts'").fetchone()
    assert loaded == (True,)


def test_a_missing_extension_package_is_named_in_the_error() -> None:
    with pytest.raises(ExtensionMissingError, match=rf"pip install duckdb-extension-nosuchext=={duckdb.__version__}"):
        connect(extensions=("nosuchext",))


def test_connections_draw_no_progress_bars_into_logs() -> None:
    con = connect()
    assert con.execute("SELECT current_setting('enable_progress_bar')").fetchone() == (False,)


def test_the_snapshot_is_read_only(corpus: DataPaths) -> None:
    con = connect_analytics(corpus)
    with pytest.raises(duckdb.InvalidInputException, match="read-only"):
        con.execute("DELETE FROM segments")


def test_no_snapshot_before_the_first_index(paths: DataPaths) -> None:
    with pytest.raises(IndexNotBuiltError, match="search_index"):
        connect_analytics(paths)


@pytest.fixture(scope="module")
def bm25(corpus: DataPaths) -> duckdb.DuckDBPyConnection:
    con = connect()
    con.execute(f"ATTACH '{corpus.search_dir / 'analytics.duckdb'}' AS snap (READ_ONLY)")
    con.execute("CREATE TABLE segments AS SELECT * FROM snap.segments")
    return con


def test_duckdb_bm25_finds_the_same_top_phrase_as_lancedb(bm25: duckdb.DuckDBPyConnection) -> None:
    table = build_keyword_index(bm25, "en")
    hits = keyword_search(bm25, "sourdough starter", table=table, limit=3)
    assert (hits[0][0], hits[0][1]) == ref("cooking", 1, 1)
    assert all(score > 0 for _, _, score in hits)


def test_duckdb_bm25_stems_german_in_its_own_table(bm25: duckdb.DuckDBPyConnection) -> None:
    table = build_keyword_index(bm25, "de")
    assert table == "segments_fts_de"
    assert [(e, i) for e, i, _ in keyword_search(bm25, "Häuser", table=table)] == [ref("wohnen", 1, 0)]
    assert keyword_search(bm25, "sourdough", table=table) == []  # English phrases are not in the German table
