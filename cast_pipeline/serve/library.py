"""What the service answers, as plain Python: feeds, episodes, transcripts, search. No web code here.

Why one layer under three front ends: the JSON API, the reader pages and the MCP tools must give the
same answers and the same errors, so they all call :class:`Library` and only format its results.

Read-only by design: Dagster's assets are the one writer of every file read here. The catalog Parquet
files are re-read when their mtime changes and the search index is reopened when the ``search_index``
asset rewrites its manifest (:func:`cast_pipeline.search.open_index`), so a running service picks up
new episodes and a new index version without a restart.

Errors are typed for the front ends: :class:`BadRequest` (the caller's input, 400),
:class:`NotFound` (404) and :class:`Unavailable` (the index is missing or unreadable, 503); every
message names the input and says what to do.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from cast_pipeline.keys import feed_key_of, is_valid_key
from cast_pipeline.paths import DataPaths
from cast_pipeline.segments import Segment
from cast_pipeline.transcripts.render import RENDER_FORMATS, render
from cast_pipeline.transcripts.store import TRANSCRIPT_JSON, TranscriptDoc, load_transcript

MAX_QUERY_CHARS = 1000
MAX_LIMIT = 100
MAX_OFFSET = 1000
STATUSES = ("indexed", "transcribed", "pending")
MEDIA_TYPES = {
    "md": "text/markdown; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "json": "application/json",
    "txt": "text/plain; charset=utf-8",
}
_EPISODE_COLUMNS = ["key", "feed_key", "feed_title", "title", "published", "enclosure_url", "duration_seconds", "link"]


class LibraryError(Exception):
    status = 500


class BadRequest(LibraryError):
    status = 400


class NotFound(LibraryError):
    status = 404


class Unavailable(LibraryError):
    status = 503


@dataclass
class _CatalogFile:
    stamp: tuple[int, int]
    feed: dict[str, Any]
    episodes: list[dict[str, Any]]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def check_episode_key(key: str) -> str:
    if not isinstance(key, str) or not is_valid_key(key) or "--" not in key:
        raise BadRequest(f"not an episode key: {key!r} (keys look like <feed key>--<episode id>, lower case)")
    return key


def _int(name: str, value: Any, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be a whole number, got {value!r}") from None
    if not low <= number <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, got {number}")
    return number


def _float(name: str, value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be a number of seconds, got {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise BadRequest(f"{name} must be a non-negative number of seconds, got {value!r}")
    return number


def _date(name: str, value: str | None) -> str | None:
    if not value:
        return None
    try:
        datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadRequest(f"{name} must be a date such as 2024-01-31, got {value!r}") from None
    return value.strip()


class Library:
    """Read access to one data directory, cached between requests and refreshed when files change."""

    def __init__(self, paths: DataPaths, *, dagster_ui_url: str = "") -> None:
        self.paths = paths
        self.dagster_ui_url = dagster_ui_url.rstrip("/")
        self._catalog: dict[Path, _CatalogFile] = {}
        self._lock = threading.Lock()

    # --- catalog -------------------------------------------------------------------------------
    def _catalog_files(self) -> list[_CatalogFile]:
        found = sorted((self.paths.catalog_dir / "episodes").glob("*.parquet"))
        with self._lock:
            for gone in set(self._catalog) - set(found):
                del self._catalog[gone]
            for path in found:
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                stamp = (st.st_mtime_ns, st.st_size)
                cached = self._catalog.get(path)
                if cached is None or cached.stamp != stamp:
                    from cast_pipeline.feeds.catalog import read_feed

                    table = pq.read_table(path, columns=_EPISODE_COLUMNS)
                    feed = read_feed(self.paths, path.stem)
                    rows = [{k: _plain(v) for k, v in r.items()} for r in table.to_pylist()]
                    self._catalog[path] = _CatalogFile(stamp, feed.__dict__ | {"key": path.stem}, rows)
            return [self._catalog[p] for p in found if p in self._catalog]

    def _indexed_keys(self) -> set[str]:
        try:
            index = self.index()
        except Unavailable:
            return set()
        return index_episode_keys(index)

    def status(self, key: str, indexed: set[str]) -> str:
        if key in indexed:
            return "indexed"
        return "transcribed" if self.paths.episode_file(key, TRANSCRIPT_JSON).is_file() else "pending"

    def feeds(self) -> list[dict[str, Any]]:
        """Every feed in the catalog with its episode counts, by title."""
        indexed = self._indexed_keys()
        out = []
        for cat in self._catalog_files():
            statuses = [self.status(e["key"], indexed) for e in cat.episodes]
            feed = {k: cat.feed.get(k) for k in ("key", "url", "title", "description", "link", "image", "author")}
            out.append(feed | {"episodes": len(statuses)} | {s: statuses.count(s) for s in STATUSES})
        return sorted(out, key=lambda f: (str(f["title"] or "").casefold(), f["key"]))

    def episodes(
        self,
        *,
        feed: str | None = None,
        status: str | None = None,
        title: str | None = None,
        limit: Any = 50,
        offset: Any = 0,
    ) -> dict[str, Any]:
        """Episodes newest first, filtered by feed (key, title or URL), status and a title substring."""
        limit_n = _int("limit", limit, 50, 1, 500)
        offset_n = _int("offset", offset, 0, 0, 10_000_000)
        if status and status not in STATUSES:
            raise BadRequest(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        files = self._catalog_files()
        if feed:
            wanted = feed.strip()
            files = [
                c for c in files
                if wanted in (c.feed["key"], c.feed.get("url")) or wanted.casefold() == str(c.feed["title"]).casefold()
            ]  # fmt: skip
            if not files:
                raise NotFound(f"no feed matches {feed!r} (by key, title or URL); GET /api/feeds lists them")
        indexed = self._indexed_keys()
        needle = (title or "").casefold().strip()
        rows = []
        for cat in files:
            for episode in cat.episodes:
                if needle and needle not in str(episode["title"] or "").casefold():
                    continue
                state = self.status(episode["key"], indexed)
                if status and state != status:
                    continue
                rows.append(self._episode_record(episode, state))
        rows.sort(key=lambda e: e["published"] or "", reverse=True)
        return {
            "total": len(rows),
            "limit": limit_n,
            "offset": offset_n,
            "episodes": rows[offset_n : offset_n + limit_n],
        }

    def _episode_record(self, episode: dict[str, Any], state: str) -> dict[str, Any]:
        return episode | {"status": state, "dagster_url": self.dagster_link(episode["key"])}

    def dagster_link(self, key: str) -> str | None:
        if not self.dagster_ui_url:
            return None
        return f"{self.dagster_ui_url}/assets/transcript?view=partitions&partition={key}"

    def episode(self, key: str) -> dict[str, Any]:
        """One episode's catalog record and status; NotFound when no catalog holds it."""
        check_episode_key(key)
        for cat in self._catalog_files():
            if cat.feed["key"] != feed_key_of(key):
                continue
            for episode in cat.episodes:
                if episode["key"] == key:
                    return self._episode_record(episode, self.status(key, self._indexed_keys()))
        raise NotFound(f"unknown episode {key!r}: not in the catalog of feed {feed_key_of(key)!r}")

    # --- transcripts ---------------------------------------------------------------------------
    def transcript(self, key: str) -> TranscriptDoc:
        check_episode_key(key)
        try:
            return load_transcript(self.paths, key)
        except FileNotFoundError as exc:
            raise NotFound(str(exc)) from None
        except ValueError as exc:
            raise Unavailable(
                f"the transcript of {key} is unreadable ({exc}); materialise its transcript again"
            ) from None

    def segments(self, key: str, start: Any = None, end: Any = None) -> tuple[TranscriptDoc, list[Segment]]:
        """The transcript and its segments overlapping ``[start, end]`` seconds (all when both are None)."""
        doc = self.transcript(key)
        lo, hi = _float("start", start), _float("end", end)
        if lo is not None and hi is not None and hi < lo:
            raise BadRequest(f"end ({hi}) is before start ({lo})")
        chosen = [
            s for s in doc.segments
            if (lo is None or max(s.start, s.end) >= lo) and (hi is None or s.start <= hi)
        ]  # fmt: skip
        return doc, chosen

    def render(self, key: str, fmt: str, start: Any = None, end: Any = None) -> tuple[str, str]:
        """``(text, media type)`` of the transcript in ``fmt`` (every format the CLI renders)."""
        name = {"markdown": "md", "text": "txt", "webvtt": "vtt"}.get(fmt.lower(), fmt.lower())
        if name not in RENDER_FORMATS:
            raise BadRequest(f"unknown transcript format {fmt!r}; valid formats: {', '.join(RENDER_FORMATS)}")
        doc, segments = self.segments(key, start, end)
        return render(name, segments, **doc.render_header()), MEDIA_TYPES[name]

    # --- search --------------------------------------------------------------------------------
    def index(self) -> Any:
        """The live search index (reopened when the search_index asset wrote a new version)."""
        from cast_pipeline.search import IndexDamagedError, SearchError, open_index

        try:
            return open_index(self.paths)
        except IndexDamagedError as exc:  # the service only reads: say who rebuilds it
            raise Unavailable(
                f"search is unavailable: {exc}; materialise the search_index asset (or run "
                "`cast-pipeline doctor --fix`) to rebuild it from the episodes' files"
            ) from None
        except SearchError as exc:
            raise Unavailable(f"search is unavailable: {exc}") from None
        except (OSError, RuntimeError, ValueError) as exc:
            raise Unavailable(
                f"search is unavailable: the index under {self.paths.search_dir} cannot be opened "
                f"({exc.__class__.__name__}: {exc}); materialise the search_index asset to rebuild it"
            ) from None

    def search(
        self,
        query: str | None,
        *,
        mode: str = "hybrid",
        feed: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: Any = 10,
        offset: Any = 0,
        include_removed: Any = None,
    ) -> dict[str, Any]:
        """One page of results (see :func:`cast_pipeline.search.search`), JSON-ready."""
        query = (query or "").strip()
        if not query:
            raise BadRequest("empty search query: pass q=<words> (type at least one word)")
        if len(query) > MAX_QUERY_CHARS:
            raise BadRequest(f"search query too long: {len(query)} characters, at most {MAX_QUERY_CHARS}")
        if mode not in ("hybrid", "keyword", "semantic"):
            raise BadRequest(f"mode must be one of hybrid, keyword, semantic, got {mode!r}")
        limit_n = _int("limit", limit, 10, 1, MAX_LIMIT)
        offset_n = _int("offset", offset, 0, 0, MAX_OFFSET)
        since, until = _date("since", since), _date("until", until)
        index = self.index()
        index.load_exact_vectors_in_background()  # once per index version, see cast_pipeline.search.rerank
        removed = str(include_removed or "").lower() in ("1", "true", "yes")
        try:
            rows = index.search_rows(
                query, mode=mode, feed=feed or None, since=since, until=until, limit=offset_n + limit_n,
                include_removed=removed,
            )  # fmt: skip
        except ValueError as exc:  # empty after parsing, unknown feed: the caller's input
            raise BadRequest(str(exc)) from None
        except Exception as exc:  # a corrupt or half-deleted index: the service stays up and says why
            raise Unavailable(
                f"search failed on the index under {self.paths.search_dir} ({exc.__class__.__name__}: {exc}); "
                "materialise the search_index asset to rebuild it"
            ) from None
        from cast_pipeline.search.results import plain

        page = [plain(row) for row in rows[offset_n:]]
        return {
            "query": query, "mode": mode, "limit": limit_n, "offset": offset_n,
            "generation": index.manifest.generation, "results": page,
        }  # fmt: skip


def index_episode_keys(index: Any) -> set[str]:
    """Episode keys in an opened index, cached on the index object (it is replaced on a new version)."""
    cached = getattr(index, "_serve_episode_keys", None)
    if cached is None:
        table = index.episodes.search().select(["episode_key"]).limit(None).to_arrow()
        cached = set(table.column("episode_key").to_pylist())
        index._serve_episode_keys = cached
    return cached
