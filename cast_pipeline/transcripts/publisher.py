"""The publisher's own transcript of an episode: try its ``<podcast:transcript>`` links, best first.

This decides whether an episode needs audio and a speech model at all, so it must never fail a run
for a bad link: every link that cannot be used (HTTP error, too large, binary, unparsable, empty) is
recorded with its reason and the next one is tried. The outcome is one of

- ``found``: segments from the first usable link (``source`` like ``podcast2.0:vtt``),
- ``none``: the item offers no transcript,
- ``unusable``: it offers some, none worked; ``reasons`` names the episode, each URL and why.

Files (see :mod:`cast_pipeline.paths`): ``publisher.json`` (status, source, link, reasons and the
segments; read back by :mod:`cast_pipeline.transcripts.store`) and the downloaded bytes as
``publisher.raw.<ext>`` (not ``publisher.<ext>``: a JSON transcript would overwrite ``publisher.json``).

Safety: a ``file://`` transcript link is only followed when the feed itself is a local file (the demo
feeds); a remote feed must not make us read local files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal
from urllib.parse import urlsplit

import httpx

from cast_pipeline.feeds.model import Episode, TranscriptLink
from cast_pipeline.feeds.select import FORMAT_EXTENSION, FORMAT_MIME, rank_transcript_links, transcript_format
from cast_pipeline.http import FetchError, fetch
from cast_pipeline.paths import DataPaths, write_bytes_atomic, write_text_atomic
from cast_pipeline.segments import Segment, segments_from_json, segments_to_json
from cast_pipeline.settings import Settings
from cast_pipeline.transcripts import TranscriptParseError, parse
from cast_pipeline.transcripts.parsing import split_content_type

PUBLISHER_FILE = "publisher.json"
RAW_PREFIX = "publisher.raw."
# A whole transcript must arrive within this many CAST_HTTP_TIMEOUTs (each read is bounded by one).
TOTAL_TIMEOUT_FACTOR = 4

Status = Literal["found", "none", "unusable"]


@dataclass(frozen=True)
class PublisherTranscript:
    status: Status
    link: TranscriptLink | None = None  # the link that worked (found) or None
    segments: list[Segment] = field(default_factory=list)
    raw: bytes | None = None  # the bytes as downloaded (found)
    source: str = ""  # e.g. "podcast2.0:vtt"; empty unless found
    reasons: list[str] = field(default_factory=list)  # one per link that failed, and why


def _scheme(url: str) -> str:
    return urlsplit(url).scheme.lower()


def _content_type(link: TranscriptLink, fmt: str | None, response_type: str | None) -> str | None:
    """What to tell the parser: the link's specific format, else the server's type; server charset."""
    served, charset = split_content_type(response_type)
    specific = FORMAT_MIME[fmt] if fmt is not None and fmt != "text" else None
    media = specific or served or split_content_type(link.type)[0]
    if media is None:
        return None
    return f"{media}; charset={charset}" if charset else media


def _try_link(
    episode: Episode, link: TranscriptLink, settings: Settings, client: httpx.Client | None
) -> PublisherTranscript:
    """One link: ``found``, or raises ValueError/FetchError with the reason."""
    if _scheme(link.url) == "file" and _scheme(episode.feed_url) != "file":
        raise ValueError("a file:// link in a remote feed is refused (it would read local files)")
    if _scheme(link.url) not in ("http", "https", "file"):
        raise ValueError(f"unsupported URL scheme {_scheme(link.url) or '(none)'!r}")
    result = fetch(
        link.url,
        max_bytes=settings.max_transcript_bytes,
        timeout=settings.http_timeout,
        user_agent=settings.user_agent,
        client=client,
        limit_hint="CAST_MAX_TRANSCRIPT_BYTES",
        total_timeout=settings.http_timeout * TOTAL_TIMEOUT_FACTOR,
    )
    fmt = transcript_format(link)
    segments = parse(result.body, _content_type(link, fmt, result.content_type), result.final_url)
    if not any(s.text.strip() for s in segments):
        raise ValueError("the file parsed but contains no text")
    return PublisherTranscript("found", link, segments, result.body, f"podcast2.0:{fmt or 'text'}")


def fetch_publisher_transcript(
    episode: Episode, settings: Settings, client: httpx.Client | None = None
) -> PublisherTranscript:
    """Try the episode's transcript links in :func:`rank_transcript_links` order (see module docstring)."""
    if not episode.transcripts:
        return PublisherTranscript("none")
    reasons: list[str] = []
    for link in rank_transcript_links(episode.transcripts, episode.language):
        try:
            found = _try_link(episode, link, settings, client)
        except FetchError as exc:
            reasons.append(f"episode {episode.key}: {link.url}: {exc.reason}")
        except TranscriptParseError as exc:
            reasons.append(f"episode {episode.key}: {link.url}: {exc.reason}")
        except ValueError as exc:
            reasons.append(f"episode {episode.key}: {link.url}: {exc}")
        else:
            return PublisherTranscript(found.status, found.link, found.segments, found.raw, found.source, reasons)
    return PublisherTranscript("unusable", reasons=reasons)


def _raw_name(result: PublisherTranscript) -> str | None:
    if result.raw is None or result.link is None:
        return None
    return RAW_PREFIX + FORMAT_EXTENSION[transcript_format(result.link) or "text"]


def save_publisher_transcript(paths: DataPaths, episode_key: str, result: PublisherTranscript) -> None:
    """Write ``publisher.raw.<ext>`` then ``publisher.json``, each atomically; drop stale raw files."""
    raw_name = _raw_name(result)
    if raw_name is not None and result.raw is not None:
        write_bytes_atomic(paths.episode_file(episode_key, raw_name), result.raw)
    for stale in paths.episode_dir(episode_key).glob(RAW_PREFIX + "*"):
        if stale.name != raw_name:
            stale.unlink(missing_ok=True)
    text = segments_to_json(
        result.segments,
        episode_key=episode_key,
        status=result.status,
        source=result.source,
        link=asdict(result.link) if result.link else None,
        raw_file=raw_name,
        reasons=result.reasons,
    )
    write_text_atomic(paths.episode_file(episode_key, PUBLISHER_FILE), text)


def load_publisher_transcript(paths: DataPaths, episode_key: str) -> PublisherTranscript:
    """Inverse of :func:`save_publisher_transcript` (raw bytes included when stored)."""
    path = paths.episode_file(episode_key, PUBLISHER_FILE)
    if not path.exists():
        raise FileNotFoundError(
            f"episode {episode_key} has no {PUBLISHER_FILE} yet; materialise its `publisher_transcript` first"
        )
    try:
        segments, meta = segments_from_json(path.read_text(encoding="utf-8"))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a valid publisher transcript record ({exc}); re-materialise it") from None
    raw_name = meta.get("raw_file")
    raw_path = paths.episode_file(episode_key, raw_name) if raw_name else None
    return PublisherTranscript(
        status=meta["status"],
        link=TranscriptLink(**meta["link"]) if meta.get("link") else None,
        segments=segments,
        raw=raw_path.read_bytes() if raw_path is not None and raw_path.exists() else None,
        source=meta.get("source") or "",
        reasons=list(meta.get("reasons") or []),
    )
