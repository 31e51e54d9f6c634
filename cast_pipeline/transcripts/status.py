"""Where each episode stands, and finding an episode by key, key prefix or title (plain Python).

Why from files: every per-episode asset leaves a file (``episode.json``, the providers' records,
``transcript.json``), so the state of thousands of episodes is read without asking Dagster; only
failures live in Dagster's event log, and the caller passes them in.

Statuses:
- ``transcribed``: ``transcript.json`` exists (``source`` says from where);
- ``awaiting_transcript``: young, no ready-made transcript yet; re-checked until its window ends
  (reason and next look from ``await.json``, see cast_pipeline.transcripts.awaiting);
- ``needs_audio``: the ready-made providers were asked and none had a transcript; audio + speech next;
- ``failed``: a step failed for the episode after its last success (reason from the caller);
- ``removed``: the item is no longer in its feed (kept on disk);
- ``pending``: known from the feed but not processed yet.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from cast_pipeline.feeds.catalog import connect
from cast_pipeline.feeds.snapshot import EPISODE_FILE
from cast_pipeline.keys import feed_key, is_valid_key
from cast_pipeline.paths import DataPaths
from cast_pipeline.transcripts.awaiting import load_await
from cast_pipeline.transcripts.store import TRANSCRIPT_JSON

STATUSES = ("transcribed", "awaiting_transcript", "needs_audio", "failed", "removed", "pending")


@dataclass(frozen=True)
class EpisodeRow:
    key: str
    title: str
    feed_title: str
    published: str | None  # ISO date-time (UTC)
    status: str
    source: str  # the transcript's source when transcribed, else ""
    reason: str = ""
    next_check: str = ""  # ISO (UTC), when an awaiting episode is looked at again

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _head_meta(path: Any) -> dict[str, Any]:
    """The document metadata of a segments JSON file (everything but the segments)."""
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in doc.items() if k != "segments"} if isinstance(doc, dict) else {}


def _catalog(paths: DataPaths, feed_keys: set[str] | None) -> dict[str, tuple[str, str, datetime | None]]:
    """{key: (title, feed title, published)} of every episode in the catalog (of the given feeds)."""
    with connect(paths) as con:
        rows = con.execute("SELECT key, feed_key, title, feed_title, published FROM episodes").fetchall()
    return {k: (t, ft, p) for k, fk, t, ft, p in rows if feed_keys is None or fk in feed_keys}


def _snapshots(paths: DataPaths, feed_keys: set[str] | None) -> dict[str, dict[str, Any]]:
    """{key: episode.json} for every episode processed at least once (removed items included)."""
    root = paths.root / "episodes"
    out: dict[str, dict[str, Any]] = {}
    for feed_dir in root.iterdir() if root.is_dir() else ():
        if feed_keys is not None and feed_dir.name not in feed_keys:
            continue
        for path in feed_dir.glob(f"*/{EPISODE_FILE}"):
            out[path.parent.name] = _head_meta(path)
    return out


def _ready_made_asked(paths: DataPaths, key: str) -> bool:
    from cast_pipeline.transcripts.providers import providers  # providers import this package

    return any(paths.episode_file(key, p.record_file).exists() for p in providers())


def episode_rows(
    paths: DataPaths,
    *,
    feed_urls: Iterable[str] | None = None,
    failures: Mapping[str, str] | None = None,
) -> list[EpisodeRow]:
    """Every known episode (of the given feeds) with its status, newest first."""
    wanted = {feed_key(u) for u in feed_urls} if feed_urls is not None else None
    catalog = _catalog(paths, wanted)
    snapshots = _snapshots(paths, wanted)
    failures = failures or {}
    rows = []
    for key in catalog.keys() | snapshots.keys():
        snap = snapshots.get(key, {})
        title, feed_title, published = catalog.get(key) or (snap.get("title"), snap.get("feed_title"), None)
        date = published.isoformat() if published else snap.get("published")
        transcript = paths.episode_file(key, TRANSCRIPT_JSON)
        source, reason, next_check = "", "", ""
        if key not in catalog:
            status, reason = "removed", "no longer in its feed"
        elif key in failures:
            status, reason = "failed", failures[key]
        elif transcript.exists():
            status, source = "transcribed", str(_head_meta(transcript).get("source") or "")
        elif (waiting := load_await(paths, key)) is not None and waiting.awaiting:
            status, reason, next_check = "awaiting_transcript", waiting.reason, waiting.next_check or ""
        elif _ready_made_asked(paths, key):
            status, reason = "needs_audio", "no ready-made transcript"
        else:
            status = "pending"
        if status == "removed" and transcript.exists():
            source = str(_head_meta(transcript).get("source") or "")
        rows.append(EpisodeRow(key, title or "", feed_title or "", date, status, source, reason, next_check))
    return sorted(rows, key=lambda r: (r.published or "", r.key), reverse=True)


class EpisodeLookupError(LookupError):
    """No episode, or more than one, matches what the user typed; the message lists candidates."""


def _describe(matches: list[tuple[str, str]]) -> str:
    shown = "\n".join(f"  {key}  {title}" for key, title in matches[:8])
    more = f"\n  ... and {len(matches) - 8} more" if len(matches) > 8 else ""
    return shown + more


def find_episode(paths: DataPaths, key_or_prefix: str | None = None, *, title: str | None = None) -> str:
    """The one episode key matching a full key, a unique key prefix, or a title substring."""
    known = {k: t for k, (t, _, _) in _catalog(paths, None).items()}
    known.update({k: str(s.get("title") or "") for k, s in _snapshots(paths, None).items() if k not in known})
    if title is not None:
        needle = title.casefold().strip()
        matches = sorted((k, t) for k, t in known.items() if needle and needle in t.casefold())
        what = f"title containing {title!r}"
    else:
        text = (key_or_prefix or "").strip()
        if text in known:
            return text
        matches = sorted((k, t) for k, t in known.items() if text and k.startswith(text))
        if not matches and is_valid_key(text) and "--" in text:
            return text  # a whole key the catalog does not know (yet): its files may still say more
        what = f"key starting with {text!r}"
    if len(matches) == 1:
        return matches[0][0]
    if not matches:
        raise EpisodeLookupError(f"no episode has a {what}; see `cast-pipeline episodes list`")
    raise EpisodeLookupError(f"{len(matches)} episodes have a {what}; be more specific:\n{_describe(matches)}")
