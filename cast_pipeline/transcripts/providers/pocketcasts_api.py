"""A small, polite client of the public Pocket Casts API (no account needed).

Endpoints and shapes (as the Pocket Casts apps and cast2md use them):

- ``POST {api}/discover/search`` with ``{"term": "..."}`` answers a JSON list of shows
  ``[{"uuid", "title", "author", ...}]``.
- ``GET {api}/mobile/show_notes/full/{uuid}`` redirects to a static JSON file
  ``{"podcast": {"uuid", "episodes": [{"uuid", "title", "published", "transcripts": [...],
  "pocket_casts_transcripts": [{"url", "type"}]}]}}``; the generated transcripts are WebVTT files.

Why polite: the API is unofficial and shared. Requests from this process are spaced by
``CAST_POCKETCASTS_MIN_INTERVAL``; a 429 stores its Retry-After in ``providers/pocketcasts.json`` so
no run asks again before then (each answer says so instead). Every bad answer (HTML, empty, not
JSON, unexpected shape, redirect loop) raises :class:`PocketCastsError` with a reason naming the URL.
"""

from __future__ import annotations

import email.utils
import json
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from cast_pipeline.http import FetchError, FetchResult, fetch
from cast_pipeline.paths import DataPaths, write_text_atomic
from cast_pipeline.settings import Settings

NAME = "pocketcasts"
DEFAULT_RETRY_AFTER = 60.0  # seconds, when a 429 does not say
MAX_RETRY_AFTER = 24 * 3600.0
_UUID = re.compile(r"^[0-9A-Za-z-]{8,64}$")
_lock = threading.Lock()
_last_request = 0.0


class PocketCastsError(Exception):
    """Pocket Casts could not answer usefully; ``reason`` says why, naming the URL."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class Show:
    uuid: str
    title: str
    author: str


@dataclass(frozen=True)
class ShowEpisode:
    uuid: str
    title: str
    published: datetime | None
    transcripts: tuple[tuple[str, str], ...]  # (url, type) of each pocket_casts_transcripts entry


def parse_date(value: object) -> datetime | None:
    """``2024-05-01T10:00:00Z`` (and other ISO forms) as UTC; None when missing or unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _retry_seconds(header: str | None) -> float:
    text = (header or "").strip()
    if text.isdigit():
        seconds = float(text)
    else:
        try:
            seconds = (email.utils.parsedate_to_datetime(text) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            seconds = DEFAULT_RETRY_AFTER
    return min(max(seconds, 1.0), MAX_RETRY_AFTER)


def decode_json(body: bytes, content_type: str | None, what: str, url: str) -> Any:
    text = body.strip()
    if not text:
        raise PocketCastsError(f"{what} from {url} came back empty")
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "text/html" or text[:1] == b"<":
        raise PocketCastsError(
            f"{what} from {url} is an HTML page, not JSON; the API may have changed (check CAST_POCKETCASTS_API_URL)"
        )
    try:
        return json.loads(text)
    except ValueError as exc:
        raise PocketCastsError(f"{what} from {url} is not valid JSON ({exc})") from None


class PocketCastsAPI:
    def __init__(self, settings: Settings, paths: DataPaths, client: httpx.Client | None = None) -> None:
        self.settings = settings
        self.paths = paths
        self.client = client
        self.base = settings.pocketcasts_api_url.rstrip("/")

    # --- politeness -----------------------------------------------------------------------------

    def blocked_until(self) -> datetime | None:
        try:
            state = json.loads(self.paths.provider_state(NAME).read_text(encoding="utf-8"))
            until = datetime.fromisoformat(state["blocked_until"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return until if until > datetime.now(UTC) else None

    def _before_request(self) -> None:
        global _last_request
        until = self.blocked_until()
        if until is not None:
            raise PocketCastsError(
                f"Pocket Casts asked us to slow down (HTTP 429); not asking again before {until:%Y-%m-%d %H:%M} UTC"
            )
        with _lock:
            wait = _last_request + self.settings.pocketcasts_min_interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            _last_request = time.monotonic()

    def _rate_limited(self, url: str, retry_after: str | None) -> PocketCastsError:
        seconds = _retry_seconds(retry_after)
        until = datetime.now(UTC) + timedelta(seconds=seconds)
        state = {"blocked_until": until.isoformat(), "url": url, "retry_after": retry_after}
        write_text_atomic(self.paths.provider_state(NAME), json.dumps(state))
        return PocketCastsError(
            f"Pocket Casts answered HTTP 429 Too Many Requests for {url} (Retry-After: {retry_after or 'not given'}); "
            f"not asking again for {seconds:.0f} s",
            status=429,
        )

    # --- requests -------------------------------------------------------------------------------

    def get(self, url: str, max_bytes: int, limit_hint: str) -> FetchResult:
        """GET with redirects (loops reported), size limit, spacing and 429 handling."""
        self._before_request()
        try:
            return fetch(
                url,
                max_bytes=max_bytes,
                timeout=self.settings.http_timeout,
                user_agent=self.settings.user_agent,
                client=self.client,
                limit_hint=limit_hint,
                total_timeout=self.settings.http_timeout * 4,
            )
        except FetchError as exc:
            if exc.status == 429:
                raise self._rate_limited(url, exc.retry_after) from None
            raise PocketCastsError(exc.reason, status=exc.status) from None

    def _post_json(self, url: str, payload: dict[str, Any], what: str) -> Any:
        self._before_request()
        own = self.client is None
        http = self.client or httpx.Client(timeout=httpx.Timeout(self.settings.http_timeout))
        headers = {"User-Agent": self.settings.user_agent, "Content-Type": "application/json"}
        limit = self.settings.max_feed_bytes
        try:
            with http.stream("POST", url, json=payload, headers=headers, follow_redirects=False) as response:
                status = response.status_code
                if status == 429:
                    raise self._rate_limited(url, response.headers.get("retry-after"))
                if status != 200:
                    raise PocketCastsError(f"{what} at {url} answered HTTP {status} {response.reason_phrase}", status)
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise PocketCastsError(f"{what} from {url} is larger than {limit} bytes; refused")
                content_type = response.headers.get("content-type")
        except httpx.TimeoutException:
            raise PocketCastsError(f"{what} at {url} timed out after {self.settings.http_timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise PocketCastsError(f"{what} at {url}: connection failed ({type(exc).__name__}: {exc})") from None
        finally:
            if own:
                http.close()
        return decode_json(bytes(body), content_type, what, url)

    def search(self, term: str) -> list[Show]:
        """Shows matching ``term`` (a title, or a feed URL)."""
        url = f"{self.base}/discover/search"
        data = self._post_json(url, {"term": term}, "the podcast search")
        if not isinstance(data, list):
            raise PocketCastsError(f"the podcast search at {url} answered {type(data).__name__}, expected a list")
        shows = []
        for item in data:
            if isinstance(item, dict) and isinstance(item.get("uuid"), str) and _UUID.match(item["uuid"]):
                shows.append(Show(item["uuid"], str(item.get("title") or ""), str(item.get("author") or "")))
        return shows

    def show_episodes(self, uuid: str) -> list[ShowEpisode]:
        """A show's episodes with their Pocket Casts transcripts (the show notes file)."""
        if not _UUID.match(uuid):
            raise PocketCastsError(f"not a Pocket Casts show id: {uuid!r}")
        url = f"{self.base}/mobile/show_notes/full/{uuid}"
        result = self.get(url, self.settings.max_feed_bytes, "CAST_MAX_FEED_BYTES")
        data = decode_json(result.body, result.content_type, "the show notes", result.final_url)
        podcast = data.get("podcast") if isinstance(data, dict) else None
        episodes = podcast.get("episodes") if isinstance(podcast, dict) else None
        if not isinstance(episodes, list):
            raise PocketCastsError(f"the show notes from {result.final_url} have no podcast.episodes list")
        out = []
        for ep in episodes:
            if not isinstance(ep, dict) or not isinstance(ep.get("uuid"), str):
                continue
            entries = ep.get("pocket_casts_transcripts") or []
            links = tuple(
                (str(t["url"]), str(t.get("type") or ""))
                for t in (entries if isinstance(entries, list) else [])
                if isinstance(t, dict)
                and isinstance(t.get("url"), str)
                and t["url"].startswith(("http://", "https://"))
            )
            out.append(ShowEpisode(ep["uuid"], str(ep.get("title") or ""), parse_date(ep.get("published")), links))
        return out
