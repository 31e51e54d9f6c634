"""Each index row's keys, times and text in memory, so a query reads no rows back from LanceDB.

Why: the searches themselves answer in a few milliseconds at 1M rows, but reading columns of their
candidates back is slow: a random row costs LanceDB a page-chunk decode per column (measured with
bench/bench_search.py at 1M rows on 2 cores: ~1 ms per column per 10 rows, 14 ms for three key columns
of 50 candidates, more than the full-text search). So the retrievers return only row ids and scores;
fusion, the per-episode cap and the result rows look the rest up here. The page's text is here too:
taking 10 rows' text from the table still cost ~2 ms a query (session 17), for ~110 bytes a row.

Cost: ~40 bytes a row plus the text (~150 MB per 1M passages) and a scan of these columns when an index
version is first searched (~1-2 s at 1M rows). Row ids belong to one version of the table: a store is built from,
and only used with, the table handle it was loaded from (:class:`cast_pipeline.search.query.SearchIndex`
is reopened, with a new store, when the ``search_index`` asset writes a new version).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from lancedb.table import Table

EPISODE_COLUMNS = [
    "episode_key", "feed_key", "feed_title", "title", "description", "published", "enclosure_url", "language",
]  # fmt: skip
_SHOWN_WITH_SEGMENTS = [c for c in EPISODE_COLUMNS if c not in ("description", "language")]


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list[Any]]:
    """Dictionary codes (int32, -1 for null) and the distinct values of a string column."""
    encoded = pc.dictionary_encode(column).combine_chunks()
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
    return codes, encoded.dictionary.to_pylist()


@dataclass(frozen=True, eq=False)
class RowStore:
    """Keys, times and speaker of every row of one version of the ``segments`` table, by row id."""

    row_ids: np.ndarray  # sorted
    episode: np.ndarray  # code into episode_keys
    episode_keys: list[str]
    segment_index: np.ndarray
    passage_index: np.ndarray
    start: np.ndarray
    end: np.ndarray
    speaker: np.ndarray  # code into speakers, -1 = none
    speakers: list[str]
    text: pa.Array  # the passage text, in row id order (an Arrow array: no Python object per row)
    episodes: dict[str, dict[str, Any]]  # episode key -> EPISODE_COLUMNS

    @classmethod
    def load(cls, segments: Table, episodes: Table) -> RowStore:
        columns = ["episode_key", "segment_index", "passage_index", "start", "end", "speaker", "text"]
        table = segments.search().select(columns).with_row_id(True).limit(None).to_arrow()
        row_ids = table.column("_rowid").to_numpy()
        order = np.argsort(row_ids, kind="stable")
        episode, episode_keys = _codes(table.column("episode_key"))
        speaker, speakers = _codes(table.column("speaker"))

        def numbers(name: str, dtype: type) -> np.ndarray:
            values = table.column(name).to_numpy()
            return np.asarray(values, dtype=dtype)[order]

        meta = episodes.search().select(EPISODE_COLUMNS).limit(None).to_arrow().to_pylist()
        return cls(
            row_ids=row_ids[order], episode=episode[order], episode_keys=episode_keys,
            segment_index=numbers("segment_index", np.int64), passage_index=numbers("passage_index", np.int64),
            start=numbers("start", np.float64), end=numbers("end", np.float64), speaker=speaker[order],
            speakers=speakers, text=table.column("text").combine_chunks().take(pa.array(order)),
            episodes={m["episode_key"]: m for m in meta},
        )  # fmt: skip

    def positions(self, row_ids: Sequence[int]) -> np.ndarray:
        """Positions of ``row_ids`` in this store; KeyError for an id of another table version."""
        wanted = np.asarray(row_ids, dtype=self.row_ids.dtype)
        found = np.searchsorted(self.row_ids, wanted)
        found = np.minimum(found, len(self.row_ids) - 1)
        if len(wanted) and not np.array_equal(self.row_ids[found], wanted):
            raise KeyError("row ids not in this version of the segments table")
        return found

    def keys(self, row_ids: Sequence[int]) -> list[dict[str, Any]]:
        """``episode_key``, ``segment_index``, ``passage_index`` of each row id, in order."""
        at = self.positions(row_ids)
        episodes = [self.episode_keys[i] for i in self.episode[at]]
        return [
            {"episode_key": e, "segment_index": int(s), "passage_index": int(p)}
            for e, s, p in zip(episodes, self.segment_index[at], self.passage_index[at], strict=True)
        ]

    def details(self, row_ids: Sequence[int]) -> list[dict[str, Any]]:
        """Every field a segment result shows, in the order of ``row_ids``."""
        at = self.positions(row_ids)
        texts = self.text.take(pa.array(at, type=pa.int64())).to_pylist()
        out = []
        for i, text in zip(at, texts, strict=True):
            key = self.episode_keys[self.episode[i]]
            episode = self.episodes.get(key) or {"episode_key": key}
            start, end = float(self.start[i]), float(self.end[i])
            out.append(
                {name: episode.get(name) for name in _SHOWN_WITH_SEGMENTS} | {
                    "segment_index": int(self.segment_index[i]), "passage_index": int(self.passage_index[i]),
                    "start": None if start != start else start, "end": None if end != end else end,
                    "speaker": self.speakers[self.speaker[i]] if self.speaker[i] >= 0 else None, "text": text,
                }
            )  # fmt: skip
        return out
