"""The row store the searches look keys and fields up in: the same values as the table, row by row."""

from __future__ import annotations

import pytest

from cast_pipeline.cli.search import records
from cast_pipeline.paths import DataPaths
from cast_pipeline.search.query import SearchIndex
from cast_pipeline.search.results import plain

FIELDS = [
    "episode_key", "feed_key", "feed_title", "title", "published", "enclosure_url", "segment_index", "passage_index",
    "start", "end", "speaker", "text",
]  # fmt: skip


def test_every_row_reads_back_as_the_table_holds_it(corpus: DataPaths) -> None:
    index = SearchIndex.open(corpus)
    table = index.segments.search().select(FIELDS).with_row_id(True).limit(None).to_arrow().to_pylist()
    ids = [row["_rowid"] for row in table]
    assert index.rows.details(ids) == [{name: row[name] for name in FIELDS} for row in table]  # text too
    backwards = list(reversed(table))  # rows come back in the order asked for, whatever the row ids
    assert index.rows.details([row["_rowid"] for row in backwards]) == [{n: r[n] for n in FIELDS} for r in backwards]
    keys = ["episode_key", "segment_index", "passage_index"]
    assert index.rows.keys(ids[:2]) == [{name: row[name] for name in keys} for row in table[:2]]


def test_a_row_id_of_another_table_version_is_refused(corpus: DataPaths) -> None:
    index = SearchIndex.open(corpus)
    with pytest.raises(KeyError, match="not in this version"):
        index.rows.positions([int(index.rows.row_ids.max()) + 1])


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "semantic"])
def test_the_service_rows_are_the_rows_of_the_search_frame(corpus: DataPaths, mode: str) -> None:
    index = SearchIndex.open(corpus)
    query = "why do onions make you cry"
    rows = index.search_rows(query, mode=mode)  # type: ignore[arg-type]
    assert rows
    assert [plain(row) for row in rows] == records(index.search(query, mode=mode))  # type: ignore[arg-type]
