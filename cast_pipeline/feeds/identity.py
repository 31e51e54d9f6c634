"""Keep one episode one partition when a feed re-issues an item under a new GUID.

Why: hosting migrations and CMS re-imports regularly rewrite every item's GUID (or drop GUIDs, so
keys fall back to enclosure URLs). Keys derive from the GUID (cast_pipeline.keys), so without this
each such item would become a second episode: a second download, a second transcription, a duplicate
in search. On each refresh, an item whose key is new is matched against the items that vanished from
the feed in the same refresh: same enclosure URL first, else same title and publication day. A match
keeps the vanished item's key (its transcripts, its partition) and says so in the feed's problems.

A feed registered under a second URL is the same show when it declares the same ``<podcast:guid>``
as a feed we already have (the publisher moved hosts and the user added the new address):
:func:`same_show` finds the first one, whose record then follows the new URL, so its episodes keep
their keys instead of coming back as duplicates (see cast_pipeline.feeds.refresh).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path

from cast_pipeline.feeds.catalog import CatalogError, read_feed
from cast_pipeline.feeds.model import Episode, Feed
from cast_pipeline.paths import DataPaths


def _title(text: str) -> str:
    return " ".join(text.casefold().split())


def _day(ep: Episode) -> date | None:
    return ep.published.date() if ep.published else None


def keep_keys(previous: Sequence[Episode], parsed: Sequence[Episode]) -> tuple[list[Episode], list[str]]:
    """``parsed`` with re-issued items under their previous keys, and a note per re-keyed item."""
    current = {ep.key for ep in parsed}
    vanished = [ep for ep in previous if ep.key not in current]
    if not vanished:
        return list(parsed), []
    by_enclosure = {ep.enclosure_url: ep for ep in vanished if ep.enclosure_url}
    by_title_day = {(_title(ep.title), _day(ep)): ep for ep in vanished if ep.title and ep.published}
    used: set[str] = set()
    out: list[Episode] = []
    notes: list[str] = []
    known = {ep.key for ep in previous}
    for ep in parsed:
        match = None
        if ep.key not in known:
            match = by_enclosure.get(ep.enclosure_url or "") or by_title_day.get((_title(ep.title), _day(ep)))
        if match is None or match.key in used:
            out.append(ep)
            continue
        used.add(match.key)
        how = "enclosure" if match.enclosure_url and match.enclosure_url == ep.enclosure_url else "title and date"
        notes.append(
            f"item {ep.title!r} changed its GUID ({match.guid!r} -> {ep.guid!r}); same {how}, "
            f"kept as episode {match.key}"
        )
        out.append(replace(ep, key=match.key))
    return out, notes


def same_show(paths: DataPaths, podcast_guid: str | None, feed_key: str) -> Feed | None:
    """Another feed in the catalog that declares the same ``<podcast:guid>``, None when there is none.

    Read from each catalog's feed record (schema metadata only); asked once, on a feed's first fetch.
    """
    wanted = (podcast_guid or "").strip().lower()
    if not wanted:
        return None
    for path in sorted((paths.catalog_dir / "episodes").glob("*.parquet")):
        other = Path(path).stem
        if other == feed_key:
            continue
        try:
            feed = read_feed(paths, other)
        except (CatalogError, OSError, ValueError):
            continue
        if (feed.podcast_guid or "").strip().lower() == wanted:
            return feed
    return None
