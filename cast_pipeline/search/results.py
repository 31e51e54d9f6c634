"""Shaping search hits into result rows: snippet, highlight, timestamp, play URL; plain dicts or a DataFrame.

Why plain dicts first: the service answers JSON, so its rows go straight from LanceDB's hits to
JSON-ready dicts (no pandas on the hot path, ~2-4 ms a query at 10 rows); :func:`frame` builds the
DataFrame of :func:`cast_pipeline.search.search` from the same rows, so both give the same answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cast_pipeline.search.text import ParsedQuery, highlight, play_url, timestamp

if TYPE_CHECKING:
    import pandas as pd

Hit = dict[str, Any]  # one row from LanceDB plus its "_score"
RESULT_COLUMNS = [
    "result_type", "episode_key", "feed_title", "title", "published", "start", "end", "timestamp", "text",
    "highlighted", "play_url", "matched_by", "score", "feed_key", "speaker", "segment_index",
    "passage_index",
]  # fmt: skip


def _snippet(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def _common(hit: Hit) -> dict[str, Any]:
    keep = ("episode_key", "feed_title", "title", "feed_key", "published")
    return {name: hit[name] for name in keep}


def episode_row(hit: Hit, parsed: ParsedQuery) -> dict[str, Any]:
    snippet = _snippet(hit["description"] or "")
    marked = highlight(hit["title"], parsed.terms, parsed.phrases)
    if snippet:
        marked += " — " + highlight(snippet, parsed.terms, parsed.phrases)
    return (
        dict.fromkeys(RESULT_COLUMNS)
        | _common(hit)
        | {
            "result_type": "episode",
            "text": snippet or hit["title"],
            "highlighted": marked,
            "play_url": play_url(hit["enclosure_url"]),
            "matched_by": "keyword",
            "score": float(hit["_score"]),
        }
    )


def segment_row(hit: Hit, parsed: ParsedQuery, matched_by: str, score: float) -> dict[str, Any]:
    return (
        dict.fromkeys(RESULT_COLUMNS)
        | _common(hit)
        | {
            "result_type": "segment",
            "start": hit["start"],
            "end": hit["end"],
            "timestamp": timestamp(hit["start"]),
            "text": hit["text"],
            "highlighted": highlight(hit["text"], parsed.terms, parsed.phrases),
            "play_url": play_url(hit["enclosure_url"], hit["start"]),
            "matched_by": matched_by,
            "score": float(score),
            "speaker": hit["speaker"],
            "segment_index": hit["segment_index"],
            "passage_index": hit["passage_index"],
        }
    )


def plain(row: dict[str, Any]) -> dict[str, Any]:
    """A row as JSON-ready values: timestamps in ISO 8601, missing or NaN numbers as null."""
    out = {}
    for name, value in row.items():
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, float) and value != value:
            value = None
        out[name] = value
    return out


def frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The rows as the DataFrame of :func:`cast_pipeline.search.search` (columns :data:`RESULT_COLUMNS`)."""
    import pandas as pd

    stamped = [r | {"published": None if r["published"] is None else pd.Timestamp(r["published"])} for r in rows]
    table = pd.DataFrame(stamped, columns=RESULT_COLUMNS)
    types = {"segment_index": "Int64", "passage_index": "Int64", "start": "float64", "end": "float64"}
    return table.astype(types | {"score": "float64"})
