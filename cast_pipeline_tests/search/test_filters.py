"""The filter's SQL (LanceDB's pre-filter) and its in-memory test keep the same episodes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import lancedb
import pyarrow as pa

from cast_pipeline.search.filters import SearchFilter, end_of


def test_the_test_in_memory_keeps_what_the_sql_keeps(tmp_path: Path) -> None:
    day = [datetime(2024, 1, d, 12, tzinfo=UTC) for d in (1, 2, 3)]
    episodes = [
        {"episode_key": f"e{i}", "feed_key": feed, "published": published}
        for i, (feed, published) in enumerate(
            [("f1", day[0]), ("f1", day[1]), ("f2", day[2]), ("f2", None), ("f3", day[1])]
        )
    ]
    schema = pa.schema(
        [("episode_key", pa.string()), ("feed_key", pa.string()), ("published", pa.timestamp("us", tz="UTC"))]
    )
    table = lancedb.connect(str(tmp_path)).create_table("e", pa.Table.from_pylist(episodes, schema))
    filters = [
        SearchFilter(),
        SearchFilter(hidden=frozenset({"e1"})),
        SearchFilter(feeds=frozenset({"f1", "f2"})),
        SearchFilter(since=day[1]),
        SearchFilter(before=day[2]),
        SearchFilter(hidden=frozenset({"e0"}), feeds=frozenset({"f1"}), since=day[0], before=day[2]),
    ]
    for flt in filters:
        query = table.search().select(["episode_key"]).limit(None)
        sql_keys = {r["episode_key"] for r in (query.where(flt.sql) if flt.sql else query).to_list()}
        assert {e["episode_key"] for e in episodes if flt.accepts(e)} == sql_keys, flt


def test_until_a_date_includes_that_whole_day() -> None:
    assert end_of("2024-01-31") == datetime(2024, 2, 1, tzinfo=UTC)
    assert end_of("2024-01-31T10:00:00") == datetime(2024, 1, 31, 10, tzinfo=UTC)
