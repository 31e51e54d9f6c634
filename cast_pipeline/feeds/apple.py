"""Apple Podcasts show pages to RSS feed URLs, through the public iTunes lookup API.

Why: people copy the Apple Podcasts link of a show, not its RSS URL. The page URL carries the show's
numeric id (``.../podcast/some-name/id123456789``, maybe with ``?i=`` naming an episode); the lookup
API (``{lookup}?id=123456789&entity=podcast``) answers with ``results[].feedUrl``. Everything else is
returned unchanged, so callers can pass any user input through :func:`resolve_feed_url`.
Shows that exist only on Apple (subscription or Apple-hosted) have no ``feedUrl``: that is an error
with advice, not a silent skip.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import httpx

from cast_pipeline.http import FetchError, fetch
from cast_pipeline.settings import SETTINGS

_APPLE_URL = re.compile(r"^(?:https?://)?(?:podcasts|itunes)\.apple\.com/[^?#]*?/id(\d+)(?:[/?#]|$)", re.IGNORECASE)
_MAX_LOOKUP_BYTES = 1024 * 1024


class AppleLookupError(ValueError):
    """An Apple Podcasts URL could not be resolved to an RSS feed; the message says why and what to do."""


def apple_podcast_id(url: str) -> str | None:
    """The numeric show id of an Apple Podcasts URL, or ``None`` for any other URL."""
    match = _APPLE_URL.match(url.strip())
    return match.group(1) if match else None


def resolve_feed_url(
    url: str,
    lookup_url: str,
    client: httpx.Client | None = None,
    *,
    timeout: float = 30.0,
    user_agent: str | None = None,
) -> str:
    """The RSS feed URL behind an Apple Podcasts URL; other URLs come back unchanged."""
    show_id = apple_podcast_id(url)
    if show_id is None:
        return url
    agent = user_agent or (client.headers.get("User-Agent") if client else None) or SETTINGS["user_agent"].default
    query = urlencode({"id": show_id, "entity": "podcast"})
    request = f"{lookup_url}{'&' if '?' in lookup_url else '?'}{query}"
    try:
        result = fetch(request, max_bytes=_MAX_LOOKUP_BYTES, timeout=timeout, user_agent=agent, client=client)
        answer = json.loads(result.body)
    except FetchError as exc:
        raise AppleLookupError(
            f"could not look up Apple Podcasts id {show_id} ({url}): {exc.reason}; retry, or add the RSS URL directly"
        ) from None
    except ValueError as exc:
        raise AppleLookupError(f"the iTunes lookup API sent invalid JSON for id {show_id} ({url}): {exc}") from None
    results = answer.get("results") if isinstance(answer, dict) else None
    if not results:
        raise AppleLookupError(f"Apple Podcasts has no show with id {show_id} ({url}); check the URL")
    for entry in results:
        feed_url = entry.get("feedUrl") if isinstance(entry, dict) else None
        if isinstance(feed_url, str) and feed_url.strip():
            return feed_url.strip()
    name = next((e.get("collectionName") for e in results if isinstance(e, dict) and e.get("collectionName")), None)
    show = f"{name!r} (id {show_id})" if name else f"id {show_id}"
    raise AppleLookupError(
        f"Apple Podcasts lists {show} without a public RSS feed (Apple-only or subscription show); "
        "find the show's RSS feed URL on its website and add that instead"
    )
