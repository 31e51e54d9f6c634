"""Items that left their feed: kept on disk, marked ``removed``, hidden from search unless asked for.

Why a record instead of deleting: a publisher that drops an item (a retracted episode, a feed that
only lists its last 100) has not made our transcript wrong, and a user may still want it
(``--include-removed``). Why one small file per feed (``feeds/<feed key>/removed.json``): refreshes of
different feeds run in parallel, like the per-feed catalog, so no two writers share a file. An item
that comes back is taken off the list on the refresh that sees it again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from glob import iglob
from pathlib import Path
from typing import Any

from cast_pipeline.feeds.model import Episode
from cast_pipeline.paths import DataPaths, write_text_atomic

REMOVED_FILE = "removed.json"


def _read(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # never written (or unreadable): nothing removed; the next refresh rewrites it
    episodes = data.get("episodes") if isinstance(data, dict) else None
    return episodes if isinstance(episodes, dict) else {}


def read_removed(paths: DataPaths, feed_key: str) -> dict[str, dict[str, Any]]:
    """{episode key: {"title", "removed_at"}} of the feed's items that left it."""
    return _read(paths.feed_file(feed_key, REMOVED_FILE))


def update_removed(
    paths: DataPaths, feed_key: str, previous: Sequence[Episode], current: Iterable[str], now: datetime
) -> list[Episode]:
    """Mark items of ``previous`` that are not in ``current`` removed, un-mark those back; the newly removed."""
    current_keys = set(current)
    before = read_removed(paths, feed_key)
    after = {key: entry for key, entry in before.items() if key not in current_keys}
    gone = [ep for ep in previous if ep.key not in current_keys and ep.key not in after]
    for ep in gone:
        after[ep.key] = {"title": ep.title, "removed_at": now.isoformat()}
    if after != before:
        path = paths.feed_file(feed_key, REMOVED_FILE)
        write_text_atomic(path, json.dumps({"feed_key": feed_key, "episodes": after}, ensure_ascii=False, indent=1))
    return gone


def removed_keys(paths: DataPaths) -> set[str]:
    """Keys of every removed episode, all feeds (what search hides by default)."""
    keys: set[str] = set()
    for name in iglob(str(paths.root / "feeds" / "*" / REMOVED_FILE)):
        keys.update(_read(Path(name)))
    return keys


def removed_note(gone: Sequence[Episode]) -> str | None:
    """The feed problem line for items that left the feed on this refresh."""
    if not gone:
        return None
    titles = ", ".join(repr(ep.title) for ep in gone[:5]) + (f" and {len(gone) - 5} more" if len(gone) > 5 else "")
    return f"{len(gone)} item(s) left the feed ({titles}): marked removed, kept on disk, hidden from search"
