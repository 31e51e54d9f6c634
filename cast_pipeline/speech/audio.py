"""Download an episode's audio to disk: streamed, size-limited, sniffed, retried and resumed.

Why not :func:`cast_pipeline.http.fetch`: audio is up to gigabytes, so it is streamed to a temp file
beside the destination and renamed only when complete (readers never see half a file). Hosts and
CDNs fail transiently (429, 503, dropped connections), so those are retried with exponential
backoff, honouring a short ``Retry-After``; a partial body is resumed with ``Range`` when the server
supports it, and restarted cleanly when it answers 200 instead of 206. 404/410 and other 4xx are
final. The stored file's extension comes from the magic bytes, never from the URL.
"""

from __future__ import annotations

import contextlib
import email.utils
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import httpx

from cast_pipeline.settings import Settings
from cast_pipeline.speech.errors import DownloadError
from cast_pipeline.speech.sniff import SNIFF_BYTES, AudioFormat, describe_non_audio, sniff_audio_format

BROWSER_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
)
MAX_RETRY_AFTER = 60.0  # seconds; a longer Retry-After ends this attempt (a later run retries)
BACKOFF_CAP = 30.0
_CHUNK = 256 * 1024
_AUDIO_EXTENSIONS = ("mp3", "aac", "m4a", "mp4", "ogg", "opus", "wav", "flac", "webm", "mka", "aiff")


@dataclass(frozen=True)
class AudioFile:
    path: Path
    content_type: str | None  # as the server sent it (None for file:// URLs)
    size: int
    format: str  # sniffed container, also the file's extension: mp3, m4a, ogg, opus, wav, flac, webm...


def audio_user_agent(settings: Settings) -> str:
    """The User-Agent for audio: ``browser`` -> a browser's, else the setting, else the feed UA."""
    if settings.audio_user_agent.strip().lower() == "browser":
        return BROWSER_USER_AGENT
    return settings.audio_user_agent.strip() or settings.user_agent


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent/invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    return None


def _backoff(attempt: int, base: float) -> float:
    return min(BACKOFF_CAP, base * 2**attempt)


def _parse_content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) of ``bytes 100-199/1000`` or ``bytes */1000``."""
    if not value or not value.startswith("bytes "):
        return None, None
    span, _, total = value[6:].partition("/")
    first = span.split("-")[0]
    return (int(first) if first.isdigit() else None), (int(total) if total.isdigit() else None)


def _place(tmp: Path, dest_dir: Path, stem: str, fmt: AudioFormat) -> Path:
    """Rename the finished temp file to ``<stem>.<ext>`` and drop a stale ``<stem>.<other ext>``."""
    final = dest_dir / f"{stem}.{fmt.name}"
    os.replace(tmp, final)
    for ext in _AUDIO_EXTENSIONS:
        stale = dest_dir / f"{stem}.{ext}"
        if stale != final:
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
    return final


def _copy_local(url: str, dest_dir: Path, stem: str, settings: Settings) -> AudioFile:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise DownloadError(url, f"file URL names a remote host {parts.netloc!r}; use file:///absolute/path")
    source = Path(url2pathname(unquote(parts.path)))
    if not source.is_file():
        raise DownloadError(url, f"no such file {source}", status=404)
    size = source.stat().st_size
    if size > settings.max_audio_bytes:
        raise DownloadError(url, f"file is {size} bytes, over CAST_MAX_AUDIO_BYTES={settings.max_audio_bytes}")
    with source.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    fmt = sniff_audio_format(head)
    if fmt is None:
        raise DownloadError(url, describe_non_audio(head, None))
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest_dir, prefix=f".{stem}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with source.open("rb") as src, os.fdopen(fd, "wb") as dst:
            shutil.copyfileobj(src, dst, _CHUNK)
        return AudioFile(_place(tmp, dest_dir, stem, fmt), None, size, fmt.name)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class _Retry(Exception):
    """One attempt failed in a way a retry may fix; carries the error and the wait before retrying."""

    def __init__(self, error: DownloadError, delay: float | None = None) -> None:
        self.error = error
        self.delay = delay


class _Download:
    """State of one HTTP download across attempts: bytes on disk, resumability, sniffed format."""

    def __init__(self, url: str, tmp: Path, settings: Settings, http: httpx.Client, user_agent: str) -> None:
        self.url, self.tmp, self.settings, self.http, self.user_agent = url, tmp, settings, http, user_agent
        self.received = 0
        self.resumable = False
        self.validator: str | None = None  # strong ETag or Last-Modified, for If-Range
        self.content_type: str | None = None
        self.format: AudioFormat | None = None
        self.head = b""

    def _restart(self) -> None:
        self.received, self.format, self.head = 0, None, b""
        with self.tmp.open("r+b") as fh:
            fh.truncate(0)

    def _too_large(self, size: int | None) -> DownloadError:
        what = f"{size} bytes" if size is not None else "more bytes"
        limit = self.settings.max_audio_bytes
        return DownloadError(self.url, f"audio is {what}, over CAST_MAX_AUDIO_BYTES={limit}; raise it if expected")

    def attempt(self) -> None:
        headers = {"User-Agent": self.user_agent, "Accept": "*/*", "Accept-Encoding": "identity"}
        ranged = self.received > 0 and self.resumable
        if ranged:
            headers["Range"] = f"bytes={self.received}-"
            if self.validator:
                headers["If-Range"] = self.validator
        elif self.received:
            self._restart()
        with self.http.stream("GET", self.url, headers=headers, follow_redirects=True) as resp:
            status = resp.status_code
            if status == 416 and ranged:
                _, total = _parse_content_range(resp.headers.get("content-range"))
                if total == self.received:
                    return  # we already had every byte
                self._restart()
                raise _Retry(DownloadError(self.url, "server rejected the resume range", status=416, permanent=False))
            if status not in (200, 206):
                self._raise_for_status(resp)
            self._consume(resp, ranged)

    def _raise_for_status(self, resp: httpx.Response) -> None:
        status = resp.status_code
        reason = f"HTTP {status} {resp.reason_phrase or ''}".strip() + f" from {resp.url}"
        if status == 429 or status >= 500:
            wait = _retry_after(resp.headers.get("retry-after"))
            if wait is not None and wait > MAX_RETRY_AFTER:
                reason += f"; server asks to retry in {wait:.0f} s"
                raise DownloadError(self.url, reason, status=status, permanent=False)
            raise _Retry(DownloadError(self.url, reason, status=status, permanent=False), wait)
        hint = "; the episode's audio is gone" if status in (404, 410) else ""
        raise DownloadError(self.url, reason + hint, status=status, permanent=True)

    def _consume(self, resp: httpx.Response, ranged: bool) -> None:
        if resp.status_code == 206:
            first, total = _parse_content_range(resp.headers.get("content-range"))
            if first != (self.received if ranged else 0):
                self._restart()
                self.resumable = False
                raise _Retry(DownloadError(self.url, "server sent the wrong byte range", permanent=False), 0.0)
            self.resumable = True
        else:  # 200: the whole body, even if we asked for a range (then start over cleanly)
            if self.received:
                self._restart()
            length = resp.headers.get("content-length")
            total = int(length) if length and length.isdigit() else None
            self.resumable = resp.headers.get("accept-ranges", "").lower() == "bytes"
            self.content_type = resp.headers.get("content-type")
            etag = resp.headers.get("etag")
            self.validator = etag if etag and not etag.startswith("W/") else resp.headers.get("last-modified")
        if total is not None and total > self.settings.max_audio_bytes:
            raise self._too_large(total)
        with self.tmp.open("ab") as fh:
            try:
                for block in resp.iter_bytes():  # as received: a chunk size would buffer (and lose) bytes
                    self._check_head(block)
                    fh.write(block)
                    self.received += len(block)
                    if self.received > self.settings.max_audio_bytes:
                        raise self._too_large(None)
            except httpx.TransportError as exc:
                fh.flush()
                reason = f"connection dropped after {self.received} bytes ({type(exc).__name__}: {exc})"
                raise _Retry(DownloadError(self.url, reason, permanent=False)) from exc
        if self.format is None:
            self._sniff()
        if total is not None and self.received < total:
            raise _Retry(DownloadError(self.url, f"body ended at {self.received} of {total} bytes", permanent=False))

    def _check_head(self, block: bytes) -> None:
        if self.format is None and len(self.head) < SNIFF_BYTES:
            self.head += block[: SNIFF_BYTES - len(self.head)]
            if len(self.head) >= SNIFF_BYTES:
                self._sniff()

    def _sniff(self) -> None:
        fmt = sniff_audio_format(self.head)
        if fmt is None:
            raise DownloadError(self.url, describe_non_audio(self.head, self.content_type))
        self.format = fmt


def download_audio(
    url: str,
    dest_dir: Path,
    *,
    settings: Settings,
    stem: str = "audio",
    client: httpx.Client | None = None,
    max_retries: int = 4,
    sleep: Callable[[float], None] = time.sleep,
    backoff_base: float = 1.0,
) -> AudioFile:
    """Download ``url`` (http, https or file) to ``dest_dir/<stem>.<sniffed ext>`` atomically.

    Retries up to ``max_retries`` times (waits ``backoff_base * 2**n`` s, capped at 30 s, or the
    server's ``Retry-After`` when at most 60 s); ``sleep`` is injectable so tests do not wait.
    Raises :class:`DownloadError` (``permanent`` tells whether a later retry could help).
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme == "file":
        return _copy_local(url, dest_dir, stem, settings)
    if scheme not in ("http", "https"):
        raise DownloadError(url, f"unsupported URL scheme {scheme or '(none)'!r}; use http(s):// or file://")
    user_agent = audio_user_agent(settings)
    http = client or _make_client(settings, user_agent)
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest_dir, prefix=f".{stem}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        state = _Download(url, tmp, settings, http, user_agent)
        for attempt in range(max_retries + 1):
            try:
                state.attempt()
                break
            except _Retry as retry:
                if attempt == max_retries:
                    err = retry.error
                    reason = f"{err.reason} (gave up after {attempt + 1} attempts)"
                    raise DownloadError(url, reason, status=err.status, permanent=False) from None
                sleep(retry.delay if retry.delay is not None else _backoff(attempt, backoff_base))
            except (httpx.UnsupportedProtocol, httpx.TooManyRedirects, httpx.InvalidURL) as exc:
                raise DownloadError(url, f"{type(exc).__name__}: {exc}") from None
            except httpx.TransportError as exc:
                if attempt == max_retries:
                    reason = f"{type(exc).__name__}: {exc} (gave up after {attempt + 1} attempts)"
                    raise DownloadError(url, reason, permanent=False) from None
                sleep(_backoff(attempt, backoff_base))
        if state.format is None:  # a body shorter than SNIFF_BYTES, or completed by a 416
            with tmp.open("rb") as fh:
                state.head = fh.read(SNIFF_BYTES)
            state._sniff()
        assert state.format is not None
        path = _place(tmp, dest_dir, stem, state.format)
        return AudioFile(path, state.content_type, state.received, state.format.name)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if client is None:
            http.close()


def _make_client(settings: Settings, user_agent: str) -> httpx.Client:
    """The project's shared client factory when available (same timeouts and pool limits)."""
    try:
        from cast_pipeline.http import make_client
    except ImportError:  # pragma: no cover - http.py is part of the package
        return httpx.Client(headers={"User-Agent": user_agent}, timeout=httpx.Timeout(settings.http_timeout))
    return make_client(settings, user_agent=user_agent)
