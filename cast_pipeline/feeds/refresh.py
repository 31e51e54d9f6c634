"""Refresh one feed: conditional GET, parse, store body + catalog, remember validators and errors.

Why conditional GETs: the ``new_episodes`` sensor polls hundreds of feeds every few minutes; with
``If-None-Match`` / ``If-Modified-Since`` most polls are a 304 with no body, and we answer from the
stored catalog without parsing. Servers that ignore validators often send identical bytes; a body
whose SHA-256 matches the stored one is treated as not modified too.

Write order matters: feed body and catalog first, ``fetch.json`` (with the new validators) last. A
crash in between leaves old validators next to a new catalog, which only costs one extra download;
the reverse order could pin a stale catalog behind a 304 forever.

Errors raise :class:`FeedError` naming the URL (the sensor catches them per feed) after recording
``last_error`` in ``fetch.json``, so ``cast-pipeline feeds`` can show which feeds are failing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import httpx

from cast_pipeline.feeds.catalog import CatalogError, read_feed_episodes, read_feed_keys, write_feed_catalog
from cast_pipeline.feeds.identity import keep_keys, same_show
from cast_pipeline.feeds.model import Episode, Feed, oldest_first
from cast_pipeline.feeds.parse import FeedError, ParsedFeed, parse_feed
from cast_pipeline.feeds.removed import removed_note, update_removed
from cast_pipeline.http import FetchError, FetchResult, fetch
from cast_pipeline.keys import InvalidKeyError, feed_key
from cast_pipeline.paths import DataPaths, write_bytes_atomic, write_text_atomic
from cast_pipeline.settings import Settings

# A whole feed must arrive within this many CAST_HTTP_TIMEOUTs (each read is bounded by one).
TOTAL_TIMEOUT_FACTOR = 4


@dataclass(frozen=True)
class FeedRefresh:
    feed_key: str
    url: str
    not_modified: bool
    feed: Feed | None
    keys: list[str]  # every episode key of the feed, oldest first (see feeds.model.oldest_first)
    paths: DataPaths = field(repr=False, compare=False)  # where the catalog is, for episodes after a 304
    problems: list[str] = field(default_factory=list)
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    parsed: list[Episode] | None = field(default=None, repr=False, compare=False)

    @cached_property
    def episodes(self) -> list[Episode]:
        """Every episode in feed order: as parsed, or after a 304 read from the catalog when first asked for.

        A 304 refresh carries only :attr:`keys`, because that is all the sensor needs.
        """
        if self.parsed is not None:
            return self.parsed
        return read_feed_episodes(self.paths, self.feed_key)


def fetch_feed(
    url: str,
    settings: Settings,
    client: httpx.Client | None = None,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
) -> FetchResult:
    """GET a feed within the feed limits (CAST_MAX_FEED_BYTES, timeouts); used by refresh and `feeds add`."""
    return fetch(
        url,
        max_bytes=settings.max_feed_bytes,
        timeout=settings.http_timeout,
        user_agent=settings.user_agent,
        etag=etag,
        last_modified=last_modified,
        client=client,
        limit_hint="CAST_MAX_FEED_BYTES",
        total_timeout=settings.http_timeout * TOTAL_TIMEOUT_FACTOR,
    )


def read_fetch_state(paths: DataPaths, feed_key_: str) -> dict[str, Any]:
    """The feed's ``fetch.json`` (validators, last status, last error); empty when never fetched."""
    path = paths.feed_fetch_state(feed_key_)
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # missing or unreadable state only costs an unconditional fetch; it is rewritten below
    return state if isinstance(state, dict) else {}


def _write_state(paths: DataPaths, fk: str, state: dict[str, Any]) -> None:
    write_text_atomic(paths.feed_fetch_state(fk), json.dumps(state, ensure_ascii=False, indent=1))


def _fail(paths: DataPaths, fk: str, state: dict[str, Any], url: str, reason: str, now: datetime) -> FeedError:
    _write_state(paths, fk, {**state, "url": url, "last_error": reason, "last_error_at": now.isoformat()})
    return FeedError(url, reason)


def moved_note(new_feed_url: str | None, source: str, registered: str) -> str | None:
    """A note when ``<itunes:new-feed-url>`` points somewhere new (http(s) only: a remote feed never
    sends us to a local file); episode keys keep deriving from the registered URL."""
    if not new_feed_url or not new_feed_url.startswith(("http://", "https://")) or new_feed_url in (source, registered):
        return None
    return f"the feed moved to {new_feed_url} (itunes:new-feed-url); fetched there from now on, episode keys unchanged"


def _previous_episodes(paths: DataPaths, fk: str) -> list[Episode]:
    try:
        return read_feed_episodes(paths, fk)
    except (CatalogError, OSError, ValueError):
        return []  # an unreadable old catalog only costs the GUID-change matching of this refresh


def refresh_feed(url: str, paths: DataPaths, settings: Settings, client: httpx.Client | None = None) -> FeedRefresh:
    """Fetch (conditionally), parse and store the feed registered as ``url``."""
    try:
        fk = feed_key(url)
    except InvalidKeyError as exc:
        raise FeedError(url, f"not a usable feed URL ({exc}); fix it in the feeds file") from None
    now = datetime.now(UTC)
    state = read_fetch_state(paths, fk)
    if state.get("same_show_as"):  # fetched as the feed it is a new address of: nothing of its own
        note = f"same show as {state['same_show_as']} (podcast:guid); that feed is fetched from here"
        return FeedRefresh(fk, url, True, None, [], paths, [note], now, parsed=[])
    have_copy = paths.feed_body(fk).exists() and paths.episodes_catalog(fk).exists()
    source = state.get("moved_to") or url  # a feed that moved is fetched where it is now (keys stay)
    try:
        result = fetch_feed(
            source,
            settings,
            client,
            etag=state.get("etag") if have_copy else None,
            last_modified=state.get("last_modified") if have_copy else None,
        )
    except FetchError as exc:
        raise _fail(paths, fk, state, url, exc.reason, now) from exc

    digest = hashlib.sha256(result.body).hexdigest() if not result.not_modified else state.get("sha256")
    checked = {**state, "url": url, "checked_at": now.isoformat(), "last_error": None, "last_error_at": None}
    if result.moved_permanently and result.final_url != source:
        checked = {**checked, "moved_to": result.final_url, "moved_by": f"HTTP 301/308 from {source}"}
    if have_copy and (result.not_modified or digest == state.get("sha256")):
        feed, keys = read_feed_keys(paths, fk)
        etag = result.etag or state.get("etag")
        last_modified = result.last_modified or state.get("last_modified")
        _write_state(paths, fk, {**checked, "etag": etag, "last_modified": last_modified, "status": result.status})
        return FeedRefresh(fk, url, True, feed, keys, paths, list(state.get("problems") or []), now)

    if result.not_modified:
        raise _fail(paths, fk, state, url, "HTTP 304 Not Modified to a request without validators", now)
    try:
        parsed = parse_feed(result.body, url, base_url=result.final_url)
    except FeedError as exc:
        raise _fail(paths, fk, state, url, exc.reason, now) from exc
    original = None if have_copy else same_show(paths, parsed.feed.podcast_guid, fk)
    if original is not None:
        return _same_show(paths, fk, url, original, parsed, checked, now)
    previous = _previous_episodes(paths, fk) if have_copy else []
    episodes, rekeyed = keep_keys(previous, parsed.episodes)  # re-issued items keep their keys
    moved = moved_note(parsed.feed.new_feed_url, source, url)
    if moved:
        checked = {**checked, "moved_to": parsed.feed.new_feed_url, "moved_by": "itunes:new-feed-url"}
    if checked.get("moved_to") and checked.get("moved_to") != state.get("moved_to"):
        moved = moved or f"the feed moved to {checked['moved_to']} ({checked['moved_by']}); fetched there from now on"
    # Before the catalog: a crash in between leaves an item marked that is still listed, never the reverse.
    gone = removed_note(update_removed(paths, fk, previous, (ep.key for ep in episodes), now))
    notes = [*rekeyed, *([moved] if moved else []), *([gone] if gone else [])]
    parsed = ParsedFeed(parsed.feed, episodes, [*parsed.problems, *notes])
    write_bytes_atomic(paths.feed_body(fk), result.body)
    write_feed_catalog(paths, parsed.feed, parsed.episodes)
    _write_state(
        paths,
        fk,
        {
            **checked,
            "final_url": result.final_url,
            "status": result.status,
            "etag": result.etag,
            "last_modified": result.last_modified,
            "sha256": digest,
            "fetched_at": now.isoformat(),
            "title": parsed.feed.title,
            "episodes": len(parsed.episodes),
            "problems": parsed.problems,
        },
    )
    keys = oldest_first((ep.key, ep.published) for ep in parsed.episodes)
    return FeedRefresh(fk, url, False, parsed.feed, keys, paths, parsed.problems, now, parsed=parsed.episodes)


def _same_show(
    paths: DataPaths, fk: str, url: str, original: Feed, parsed: ParsedFeed, checked: dict[str, Any], now: datetime
) -> FeedRefresh:
    """``url`` is a new address of ``original`` (same ``<podcast:guid>``): the original follows it.

    The original feed is fetched from ``url`` from now on and its episodes keep their keys; this
    feed gets no episodes of its own (they would be duplicates) and is not fetched again.
    """
    how = f"podcast:guid {parsed.feed.podcast_guid} seen at {url}"
    old_state = read_fetch_state(paths, original.key)
    _write_state(paths, original.key, {**old_state, "moved_to": url, "moved_by": how, "sha256": None})
    _write_state(paths, fk, {**checked, "same_show_as": original.url, "podcast_guid": parsed.feed.podcast_guid})
    note = (
        f"same show as {original.url} ({how}): that feed is fetched from here now and keeps its episode keys; "
        f"no episodes are added under this URL"
    )
    return FeedRefresh(fk, url, False, parsed.feed, [], paths, [*parsed.problems, note], now, parsed=[])
