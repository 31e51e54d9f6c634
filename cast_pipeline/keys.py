"""Partition keys: the one place that names feeds and episodes.

Why these shapes:
- A feed key comes from the feed URL as registered (normalised), never from its title, so renaming a
  show does not orphan its episodes. ``example-com-feed-xml-1a2b3c4d``: a readable slug plus 8 hex of
  a SHA-1 of the normalised URL, so two feeds whose slugs collide still differ.
- An episode key is ``<feed key>--<guid slug>-<10 hex>``; the hash covers the feed key and the item's
  GUID (or its enclosure URL when a feed has no GUIDs), so the same GUID in two feeds gives two keys.
- Keys use only ``[a-z0-9-]``: safe as file names, Dagster partition keys (no commas or brackets) and
  URL parts. A slug never contains ``--``, so ``--`` splits an episode key back into its feed key.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import urlsplit, urlunsplit

_SEP = "--"
_SLUG_MAX = 40
_KEY_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class InvalidKeyError(ValueError):
    """A key could not be derived (e.g. an item with neither GUID nor enclosure)."""


def slugify(text: str, max_len: int = _SLUG_MAX) -> str:
    """Lower-case ASCII words joined by single hyphens; accents folded, everything else dropped."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")
    if len(slug) > max_len:
        slug = slug[:max_len].rstrip("-")
    return slug


def _digest(text: str, length: int) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:length]


def normalize_feed_url(url: str) -> str:
    """Canonical form of a feed URL: scheme and host lower-cased, default port and fragment dropped.

    Path and query are kept as given (servers treat them case-sensitively).
    """
    url = url.strip()
    if "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme == "file":
        return urlunsplit(("file", "", parts.path, "", ""))
    if not host:
        raise InvalidKeyError(f"not a feed URL (no host): {url!r}")
    port = parts.port
    netloc = host if port is None or (scheme, port) in {("http", 80), ("https", 443)} else f"{host}:{port}"
    path = parts.path or "/"
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def feed_key(feed_url: str) -> str:
    """Stable key of a feed, from its (normalised) URL."""
    norm = normalize_feed_url(feed_url)
    parts = urlsplit(norm)
    host = (parts.hostname or "").removeprefix("www.")
    path = parts.path.rsplit("/", 2)[-2:] if parts.scheme == "file" else [parts.path]
    slug = slugify(f"{host} {' '.join(path)} {parts.query}", max_len=32) or "feed"
    return f"{slug}-{_digest(norm, 8)}"


def episode_key(feed_key_: str, guid: str | None, enclosure_url: str | None = None) -> str:
    """Stable key of an episode: its feed's key plus its GUID, falling back to the enclosure URL."""
    identity = (guid or "").strip() or (enclosure_url or "").strip()
    if not identity:
        raise InvalidKeyError(f"episode in feed {feed_key_} has neither a GUID nor an enclosure URL")
    readable = re.sub(r"^[a-z][a-z0-9+.-]*://", "", identity, flags=re.IGNORECASE)
    slug = slugify(readable, max_len=_SLUG_MAX) or "episode"
    return f"{feed_key_}{_SEP}{slug}-{_digest(feed_key_ + chr(0) + identity, 10)}"


def feed_key_of(episode_key_: str) -> str:
    """The feed key an episode key was derived from."""
    head, sep, _ = episode_key_.partition(_SEP)
    if not sep:
        raise InvalidKeyError(f"not an episode key: {episode_key_!r}")
    return head


def is_valid_key(key: str) -> bool:
    """True when ``key`` looks like a feed or episode key (guards paths built from user input)."""
    return all(_KEY_RE.match(part) for part in key.split(_SEP)) and key.count(_SEP) <= 1
