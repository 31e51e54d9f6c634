"""Audio downloads against a real local HTTP server: sniffing, limits, retries, resume, file URLs."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cast_pipeline.settings import Settings, load_settings
from cast_pipeline.speech.audio import BROWSER_USER_AGENT, download_audio
from cast_pipeline.speech.errors import DownloadError
from cast_pipeline_tests.httpserver import LocalHTTPServer


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return load_settings(http_timeout=5, audio_user_agent="")


@pytest.fixture
def mp3(jfk_variants: dict[str, Path]) -> bytes:
    return jfk_variants["mp3"].read_bytes()


class Sleeps(list[float]):
    """Records the backoff waits instead of sleeping, so retry tests take milliseconds."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _only_file(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_download_names_the_file_after_its_sniffed_format(
    http_server: LocalHTTPServer, tmp_path: Path, settings: Settings, mp3: bytes
) -> None:
    url = http_server.add("/episode/42", mp3, "application/octet-stream")
    got = download_audio(url, tmp_path / "ep", settings=settings)
    assert got.path == tmp_path / "ep" / "audio.mp3"
    assert got.path.read_bytes() == mp3
    assert (got.size, got.format, got.content_type) == (len(mp3), "mp3", "application/octet-stream")
    assert _only_file(tmp_path / "ep") == ["audio.mp3"]  # no temp file left behind


def test_redirects_are_followed(http_server: LocalHTTPServer, tmp_path: Path, settings: Settings, mp3: bytes) -> None:
    target = http_server.add("/cdn/file.mp3", mp3, "audio/mpeg")
    url = http_server.redirect("/track/abc", target)
    assert download_audio(url, tmp_path, settings=settings).path.read_bytes() == mp3


def test_an_html_page_is_rejected_naming_the_url(
    http_server: LocalHTTPServer, tmp_path: Path, settings: Settings
) -> None:
    page = "<!DOCTYPE html><html><head><title>Please sign in</title></head><body>" + "x" * 500 + "</body></html>"
    url = http_server.add("/ep.mp3", page, "text/html; charset=utf-8")
    with pytest.raises(DownloadError, match="HTML page") as err:
        download_audio(url, tmp_path, settings=settings)
    assert url in str(err.value) and err.value.permanent
    assert _only_file(tmp_path) == []


def test_audio_with_a_wrong_content_type_is_accepted(
    http_server: LocalHTTPServer, tmp_path: Path, settings: Settings, jfk_variants: dict[str, Path]
) -> None:
    m4a = jfk_variants["m4a"].read_bytes()
    url = http_server.add("/ep.mp3", m4a, "text/html")  # misconfigured host; the bytes are what count
    assert download_audio(url, tmp_path, settings=settings).path.name == "audio.m4a"


def test_retries_on_503_honouring_retry_after_then_succeeds(
    http_server: LocalHTTPServer, tmp_path: Path, settings: Settings, mp3: bytes
) -> None:
    answers = iter([(503, {"Retry-After": "2"}, b"busy"), (503, {}, b"busy"), (200, {}, mp3)])
    http_server.add("/ep", handler=lambda headers: next(answers))
    sleeps = Sleeps()
    got = download_audio(http_server.url("/ep"), tmp_path, settings=settings, sleep=sleeps, backoff_base=0.5)
    assert got.path.read_bytes() == mp3
    assert sleeps == [2.0, 1.0]  # Retry-After first, then backoff 0.5 * 2**1
    assert len(http_server.requests_to("/ep")) == 3


def test_a_long_retry_after_ends_the_attempt_instead_of_blocking(
    http_server: LocalHTTPServer, tmp_path: Path, settings: Settings
) -> None:
    url = http_server.add("/ep", b"slow down", status=429, headers={"Retry-After": "3600"})
    sleeps = Sleeps()
    with pytest.raises(DownloadError, match="retry in 3600 s") as err:
        download_audio(url, tmp_path, settings=settings, sleep=sleeps)
    assert not err.value.permanent and err.value.status == 429
    assert sleeps == [] and len(http_server.requests_to("/ep")) == 1


@pytest.mark.parametrize("status", [404, 410, 403, 401])
def test_client_errors_are_final_and_not_retried(
    http_server: LocalHTTPServer, tmp_path: Path, settings: Settings, status: int
) -> None:
    url = http_server.add("/gone.mp3", b"nope", "text/plain", status=status)
    sleeps = Sleeps()
    with pytest.raises(DownloadError, match=f"HTTP {status}") as err:
        download_audio(url, tmp_path, settings=settings, sleep=sleeps)
    assert err.value.permanent and err.value.status == status and url in str(err.value)
    assert sleeps == [] and len(http_server.requests_to("/gone.mp3")) == 1


def test_gives_up_after_max_retries_with_exponential_backoff(
    http_server: LocalHTTPServer, tmp_path: Path, settings: Settings
) -> None:
    url = http_server.add("/ep", b"oops", status=500)
    sleeps = Sleeps()
    with pytest.raises(DownloadError, match="gave up after 3 attempts") as err:
        download_audio(url, tmp_path, settings=settings, max_retries=2, sleep=sleeps, backoff_base=0.25)
    assert not err.value.permanent
    assert sleeps == [0.25, 0.5]
    assert _only_file(tmp_path) == []


def test_network_errors_are_retried(tmp_path: Path, settings: Settings) -> None:
    with socket.socket() as sock:  # a port nobody listens on: connection refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps = Sleeps()
    with pytest.raises(DownloadError, match="ConnectError") as err:
        download_audio(f"http://127.0.0.1:{port}/ep.mp3", tmp_path, settings=settings, max_retries=2, sleep=sleeps)
    assert not err.value.permanent and len(sleeps) == 2


def _dropping_server(server: LocalHTTPServer, body: bytes, *, ranges: bool, honour_range: bool = True) -> None:
    """First response declares the full length but sends half and drops the connection."""
    half = len(body) // 2
    calls = {"n": 0}

    def handler(headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        calls["n"] += 1
        extra = {"Content-Type": "audio/mpeg", "ETag": '"v1"'}
        if ranges:
            extra["Accept-Ranges"] = "bytes"
        if calls["n"] == 1:
            return 200, {**extra, "Content-Length": str(len(body))}, body[:half]
        rng = headers.get("range", "")
        if honour_range and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            return 206, {**extra, "Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"}, body[start:]
        return 200, extra, body

    server.add("/ep.mp3", handler=handler)


def test_a_dropped_download_resumes_with_a_range_request(
    http_server: LocalHTTPServer, tmp_path: Path, settings: Settings, mp3: bytes
) -> None:
    _dropping_server(http_server, mp3, ranges=True)
    got = download_audio(http_server.url("/ep.mp3"), tmp_path, settings=settings, sleep=Sleeps())
    assert got.path.read_bytes() == mp3
    first, second = http_server.requests_to("/ep.mp3")
    assert "range" not in first.headers
    assert second.headers["range"] == f"bytes={len(mp3) // 2}-"
    assert second.headers["if-range"] == '"v1"'  # only resume if the file did not change meanwhile


def test_a_server_answering_200_to_a_range_restarts_cleanly(
    http_server: LocalHTTPServer, tmp_path: Path, settings: Settings, mp3: bytes
) -> None:
    _dropping_server(http_server, mp3, ranges=True, honour_range=False)
    got = download_audio(http_server.url("/ep.mp3"), tmp_path, settings=settings, sleep=Sleeps())
    assert got.path.read_bytes() == mp3  # not half + whole
    assert got.size == len(mp3)


def test_without_accept_ranges_a_dropped_download_starts_over(
    http_server: LocalHTTPServer, tmp_path: Path, settings: Settings, mp3: bytes
) -> None:
    _dropping_server(http_server, mp3, ranges=False)
    got = download_audio(http_server.url("/ep.mp3"), tmp_path, settings=settings, sleep=Sleeps())
    assert got.path.read_bytes() == mp3
    assert "range" not in http_server.requests_to("/ep.mp3")[1].headers


def test_content_length_over_the_limit_is_refused_before_reading(
    http_server: LocalHTTPServer, tmp_path: Path, mp3: bytes
) -> None:
    small = load_settings(max_audio_bytes=len(mp3) - 1)
    url = http_server.add("/big.mp3", mp3, "audio/mpeg")
    with pytest.raises(DownloadError, match="CAST_MAX_AUDIO_BYTES") as err:
        download_audio(url, tmp_path, settings=small, sleep=Sleeps())
    assert err.value.permanent and _only_file(tmp_path) == []


def test_a_body_without_length_is_cut_off_at_the_limit(tmp_path: Path, mp3: bytes) -> None:
    """A chunked response (no Content-Length) can only be limited while streaming. The test server
    always sends a length, so this uses httpx's in-process transport with a streamed body."""

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(mp3), 4096):
            yield mp3[i : i + 4096]

    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Type": "audio/mpeg"}, content=chunks())

    client = httpx.Client(transport=httpx.MockTransport(respond))
    small = load_settings(max_audio_bytes=50_000)
    with pytest.raises(DownloadError, match="over CAST_MAX_AUDIO_BYTES=50000"):
        download_audio("http://podcast.example/ep.mp3", tmp_path, settings=small, client=client)
    assert _only_file(tmp_path) == []


@pytest.mark.parametrize(
    ("setting", "expected"),
    [("browser", BROWSER_USER_AGENT), ("MyPodcastApp/2.0", "MyPodcastApp/2.0"), ("", None)],
)
def test_user_agent_follows_the_audio_setting(
    http_server: LocalHTTPServer, tmp_path: Path, mp3: bytes, setting: str, expected: str | None
) -> None:
    settings = load_settings(audio_user_agent=setting)
    url = http_server.add("/ep.mp3", mp3, "audio/mpeg")
    download_audio(url, tmp_path, settings=settings)
    sent = http_server.requests_to("/ep.mp3")[0].headers["user-agent"]
    assert sent == (expected or settings.user_agent)


def test_a_new_format_replaces_the_old_file(
    http_server: LocalHTTPServer, tmp_path: Path, settings: Settings, mp3: bytes, jfk_variants: dict[str, Path]
) -> None:
    (tmp_path / "audio.mp3").write_bytes(mp3)
    url = http_server.add("/ep", jfk_variants["m4a"].read_bytes(), "audio/mp4")
    download_audio(url, tmp_path, settings=settings)
    assert _only_file(tmp_path) == ["audio.m4a"]


def test_file_urls_copy_the_local_file(tmp_path: Path, settings: Settings, jfk_wav: Path) -> None:
    got = download_audio(jfk_wav.as_uri(), tmp_path / "ep", settings=settings, stem="speech")
    assert got.path == tmp_path / "ep" / "speech.wav"
    assert got.path.read_bytes() == jfk_wav.read_bytes()
    assert (got.format, got.size, got.content_type) == ("wav", jfk_wav.stat().st_size, None)


def test_file_urls_are_checked_like_downloads(tmp_path: Path, settings: Settings) -> None:
    missing = (tmp_path / "nope.mp3").as_uri()
    with pytest.raises(DownloadError, match="no such file") as err:
        download_audio(missing, tmp_path / "out", settings=settings)
    assert err.value.status == 404
    page = tmp_path / "page.mp3"
    page.write_text("<html><body>not audio</body></html>")
    with pytest.raises(DownloadError, match="HTML page"):
        download_audio(page.as_uri(), tmp_path / "out", settings=settings)


def test_unsupported_schemes_are_refused(tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(DownloadError, match="unsupported URL scheme 'ftp'"):
        download_audio("ftp://example.com/ep.mp3", tmp_path, settings=settings)
