"""The one HTTP layer: feeds, publisher transcripts and audio are all fetched through here.

Why a layer of our own on top of httpx:
- Size limits are enforced while streaming (``Content-Length`` first, then by counting decoded bytes),
  so a 50 MB "transcript" or a gzip bomb is rejected after reading at most ``max_bytes``.
- Redirects are followed by hand so a loop is reported as a loop (not as "too many redirects") and a
  web server can never redirect us onto a local ``file://`` path.
- ``file://`` URLs behave like HTTP (same limits, and ETag/Last-Modified from the file's stat), because
  the demo feeds are local files and the sensor should not re-parse an unchanged one.
- Every failure is one exception type, :class:`FetchError`, whose message says what to do; callers
  such as the feed sensor catch it per URL so one bad feed never stops the others.
"""

from __future__ import annotations

import contextlib
import email.utils
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit
from urllib.request import url2pathname

import httpx

from cast_pipeline.paths import atomic_writer
from cast_pipeline.settings import Settings

MAX_REDIRECTS = 10
_CHUNK = 64 * 1024
_REDIRECT_STATUSES = {301, 302, 303, 307, 308}


class FetchError(Exception):
    """A URL could not be fetched; ``reason`` says why (and usually what to do about it)."""

    def __init__(self, url: str, reason: str, status: int | None = None, retry_after: str | None = None) -> None:
        super().__init__(f"could not fetch {url}: {reason}")
        self.url = url
        self.reason = reason
        self.status = status
        self.retry_after = retry_after  # the Retry-After header of a 429/503, as sent


@dataclass(frozen=True)
class FetchResult:
    url: str  # as requested
    final_url: str  # after redirects
    status: int  # 200, or 304 when not_modified
    body: bytes  # empty when not_modified
    content_type: str | None
    etag: str | None
    last_modified: str | None
    not_modified: bool = False
    moved_permanently: bool = False  # redirected, and only by 301/308: the URL has moved for good


@dataclass(frozen=True)
class StreamInfo:
    """Response metadata handed to :func:`stream` callers before the body is read."""

    url: str
    final_url: str
    status: int
    content_type: str | None
    content_length: int | None
    etag: str | None
    last_modified: str | None
    moved_permanently: bool = False  # see FetchResult


def make_client(settings: Settings, *, user_agent: str | None = None) -> httpx.Client:
    """A pooled client for many requests (the sensor fetches hundreds of feeds per tick)."""
    return httpx.Client(
        headers={"User-Agent": user_agent or settings.user_agent},
        timeout=httpx.Timeout(settings.http_timeout),
        follow_redirects=False,  # we follow them ourselves, see module docstring
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
    )


def _too_large(url: str, size: int | None, max_bytes: int, limit_hint: str | None) -> FetchError:
    what = f"{size} bytes" if size is not None else "more bytes"
    hint = f"raise {limit_hint} if this is expected" if limit_hint else "raise the size limit if this is expected"
    return FetchError(url, f"response is too large ({what}, limit {max_bytes}); {hint}")


def _file_path(url: str) -> Path:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise FetchError(url, f"file URL names a remote host {parts.netloc!r}; use file:///absolute/path")
    return Path(url2pathname(unquote(parts.path)))


def _file_validators(path: Path) -> tuple[str, str]:
    st = path.stat()
    return f'"{st.st_size:x}-{st.st_mtime_ns:x}"', email.utils.formatdate(st.st_mtime, usegmt=True)


@contextlib.contextmanager
def _stream_file(
    url: str, max_bytes: int, etag: str | None, last_modified: str | None, limit_hint: str | None
) -> Iterator[tuple[StreamInfo, Iterator[bytes]]]:
    path = _file_path(url)
    if not path.is_file():
        raise FetchError(url, f"no such file {path}; check the path or URL", status=404)
    tag, modified = _file_validators(path)
    if (etag and etag == tag) or (last_modified and not etag and last_modified == modified):
        yield StreamInfo(url, url, 304, None, None, tag, modified), iter(())
        return
    size = path.stat().st_size
    if size > max_bytes:
        raise _too_large(url, size, max_bytes, limit_hint)

    def chunks() -> Iterator[bytes]:
        with path.open("rb") as fh:
            while block := fh.read(_CHUNK):
                yield block

    yield StreamInfo(url, url, 200, None, size, tag, modified), chunks()


def _redirect_target(url: str, response: httpx.Response, seen: list[str]) -> str:
    location = response.headers.get("location")
    if not location:
        raise FetchError(url, f"HTTP {response.status_code} redirect without a Location header")
    target = urljoin(str(response.url), location)
    if urlsplit(target).scheme not in ("http", "https"):
        raise FetchError(url, f"redirected to a non-HTTP URL {target!r}; refusing to follow")
    if target in seen:
        raise FetchError(url, f"redirect loop ({' -> '.join([*seen, target])}); fix or replace the URL")
    if len(seen) > MAX_REDIRECTS:
        raise FetchError(url, f"more than {MAX_REDIRECTS} redirects; use the final URL directly")
    return target


@contextlib.contextmanager
def stream(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    user_agent: str,
    etag: str | None = None,
    last_modified: str | None = None,
    client: httpx.Client | None = None,
    headers: dict[str, str] | None = None,
    limit_hint: str | None = None,
) -> Iterator[tuple[StreamInfo, Iterator[bytes]]]:
    """Open ``url`` (http, https or file) and yield its metadata plus a size-checked chunk iterator.

    The iterator raises :class:`FetchError` as soon as more than ``max_bytes`` arrive. On 304
    (or an unchanged local file) the info has status 304 and the iterator is empty.
    ``limit_hint`` names the setting to raise in the "too large" message, e.g. CAST_MAX_FEED_BYTES.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme == "file":
        with _stream_file(url, max_bytes, etag, last_modified, limit_hint) as opened:
            yield opened
        return
    if scheme not in ("http", "https"):
        raise FetchError(url, f"unsupported URL scheme {scheme or '(none)'!r}; use an http(s):// or file:// URL")

    request_headers = {"User-Agent": user_agent, **(headers or {})}
    if etag:
        request_headers["If-None-Match"] = etag
    if last_modified:
        request_headers["If-Modified-Since"] = last_modified
    own_client = client is None
    http = client or httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False)
    try:
        with contextlib.ExitStack() as stack:
            seen: list[str] = []
            current = url
            permanent: bool | None = None  # None: not redirected
            while True:
                seen.append(current)
                try:
                    response = stack.enter_context(
                        http.stream("GET", current, headers=request_headers, timeout=timeout, follow_redirects=False)
                    )
                except httpx.TimeoutException:
                    reason = f"timed out after {timeout:g} s; retry later or raise CAST_HTTP_TIMEOUT"
                    raise FetchError(url, reason) from None
                except httpx.HTTPError as exc:
                    raise FetchError(url, f"connection failed ({type(exc).__name__}: {exc})") from None
                if response.status_code not in _REDIRECT_STATUSES:
                    break
                permanent = (permanent is not False) and response.status_code in (301, 308)
                current = _redirect_target(url, response, seen)
                response.close()
            info, chunks = _checked_stream(url, current, response, max_bytes, timeout, limit_hint)
            yield replace(info, moved_permanently=bool(permanent)), chunks
    finally:
        if own_client:
            http.close()


def _checked_stream(
    url: str, final_url: str, response: httpx.Response, max_bytes: int, timeout: float, limit_hint: str | None
) -> tuple[StreamInfo, Iterator[bytes]]:
    status = response.status_code
    if status >= 400 or (status >= 300 and status != 304):
        reason = response.reason_phrase or "error"
        retry_after = response.headers.get("retry-after")
        raise FetchError(url, f"HTTP {status} {reason} from {final_url}", status=status, retry_after=retry_after)
    length_header = response.headers.get("content-length")
    length = int(length_header) if length_header and length_header.isdigit() else None
    # Content-Length counts encoded bytes; a gzip body that passes this check can still decode past
    # the limit, which the counting iterator below catches.
    if length is not None and length > max_bytes:
        raise _too_large(url, length, max_bytes, limit_hint)
    info = StreamInfo(
        url=url,
        final_url=final_url,
        status=status,
        content_type=response.headers.get("content-type"),
        content_length=length,
        etag=response.headers.get("etag"),
        last_modified=response.headers.get("last-modified"),
    )

    def chunks() -> Iterator[bytes]:
        if status == 304:
            return
        received = 0
        try:
            for block in response.iter_bytes(_CHUNK):
                received += len(block)
                if received > max_bytes:
                    raise _too_large(url, None, max_bytes, limit_hint)
                yield block
        except httpx.TimeoutException:
            raise FetchError(url, f"timed out after {timeout:g} s while reading; raise CAST_HTTP_TIMEOUT") from None
        except httpx.HTTPError as exc:
            raise FetchError(url, f"connection failed while reading ({type(exc).__name__}: {exc})") from None

    return info, chunks()


def fetch(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    user_agent: str,
    etag: str | None = None,
    last_modified: str | None = None,
    client: httpx.Client | None = None,
    limit_hint: str | None = None,
    total_timeout: float | None = None,
) -> FetchResult:
    """GET ``url`` into memory (conditional when validators are given); see :func:`stream`.

    ``timeout`` bounds each connect/read; ``total_timeout`` (optional) bounds the whole body, so a
    server dripping one byte every few seconds cannot hold a sensor tick forever.
    """
    started = time.monotonic()
    with stream(
        url,
        max_bytes=max_bytes,
        timeout=timeout,
        user_agent=user_agent,
        etag=etag,
        last_modified=last_modified,
        client=client,
        limit_hint=limit_hint,
    ) as (info, chunks):
        parts: list[bytes] = []
        for block in chunks:
            parts.append(block)
            if total_timeout is not None and time.monotonic() - started > total_timeout:
                raise FetchError(url, f"body took longer than {total_timeout:g} s to arrive; retry later")
    return FetchResult(
        url=url,
        final_url=info.final_url,
        status=info.status,
        body=b"".join(parts),
        content_type=info.content_type,
        etag=info.etag,
        last_modified=info.last_modified,
        not_modified=info.status == 304,
        moved_permanently=info.moved_permanently,
    )


def download_to_file(
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    timeout: float,
    user_agent: str,
    client: httpx.Client | None = None,
    limit_hint: str | None = None,
) -> StreamInfo:
    """Stream ``url`` into ``dest`` atomically (for audio): ``dest`` is whole or untouched."""
    with (
        stream(
            url, max_bytes=max_bytes, timeout=timeout, user_agent=user_agent, client=client, limit_hint=limit_hint
        ) as (info, chunks),
        atomic_writer(dest, "wb") as fh,
    ):
        for block in chunks:
            fh.write(block)
    return info
