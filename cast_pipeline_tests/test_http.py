"""The HTTP layer against a real local server: limits, redirects, validators, errors, file URLs."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cast_pipeline.http import FetchError, download_to_file, fetch, make_client
from cast_pipeline.settings import load_settings
from cast_pipeline_tests.httpserver import LocalHTTPServer, Route

UA = "cast-pipeline-test/1.0"


def get(url: str, **kwargs: object) -> object:
    options: dict[str, object] = {"max_bytes": 1_000_000, "timeout": 5.0, "user_agent": UA, **kwargs}
    return fetch(url, **options)  # type: ignore[arg-type]


def test_fetch_returns_body_headers_and_sends_the_user_agent(http_server: LocalHTTPServer) -> None:
    url = http_server.add("/feed.xml", "<rss/>", "application/rss+xml", etag='"v1"')
    result = fetch(url, max_bytes=100, timeout=5, user_agent=UA)
    assert result.body == b"<rss/>"
    assert result.status == 200 and not result.not_modified
    assert result.content_type == "application/rss+xml"
    assert result.etag == '"v1"'
    assert result.final_url == url == result.url
    assert http_server.requests_to("/feed.xml")[0].headers["user-agent"] == UA


def test_etag_revalidation_gives_not_modified(http_server: LocalHTTPServer) -> None:
    url = http_server.add("/feed.xml", "<rss/>", etag='"v1"')
    result = get(url, etag='"v1"')
    assert result.not_modified and result.status == 304 and result.body == b""  # type: ignore[attr-defined]
    assert http_server.requests_to("/feed.xml")[0].headers["if-none-match"] == '"v1"'


def test_last_modified_revalidation_gives_not_modified(http_server: LocalHTTPServer) -> None:
    stamp = "Wed, 21 Oct 2015 07:28:00 GMT"
    url = http_server.add("/feed.xml", "<rss/>", last_modified=stamp)
    assert get(url).last_modified == stamp  # type: ignore[attr-defined]
    assert get(url, last_modified=stamp).not_modified  # type: ignore[attr-defined]


def test_redirects_are_followed_and_report_the_final_url(http_server: LocalHTTPServer) -> None:
    target = http_server.add("/new.xml", "<rss/>")
    http_server.redirect("/mid", "/new.xml", status=301)
    start = http_server.redirect("/old", http_server.url("/mid"))
    result = get(start)
    assert result.body == b"<rss/>" and result.final_url == target and result.url == start  # type: ignore[attr-defined]


def test_a_redirect_loop_is_named_as_such(http_server: LocalHTTPServer) -> None:
    http_server.redirect("/a", "/b")
    url = http_server.redirect("/b", "/a")
    with pytest.raises(FetchError, match="redirect loop") as info:
        get(url)
    assert info.value.url == url


def test_an_endless_redirect_chain_stops_at_the_limit(http_server: LocalHTTPServer) -> None:
    for i in range(15):
        http_server.redirect(f"/r{i}", f"/r{i + 1}")
    with pytest.raises(FetchError, match="more than 10 redirects"):
        get(http_server.url("/r0"))


def test_a_server_cannot_redirect_onto_local_files(http_server: LocalHTTPServer) -> None:
    url = http_server.redirect("/evil", "file:///etc/passwd")
    with pytest.raises(FetchError, match="non-HTTP"):
        get(url)


@pytest.mark.parametrize("status", [404, 410, 500, 503])
def test_http_errors_carry_the_status(http_server: LocalHTTPServer, status: int) -> None:
    url = http_server.add("/x", "nope", status=status)
    with pytest.raises(FetchError, match=f"HTTP {status}") as info:
        get(url)
    assert info.value.status == status


def test_a_declared_large_body_is_rejected_before_reading_it(http_server: LocalHTTPServer) -> None:
    url = http_server.add("/big.vtt", b"x" * 5_000_000)
    # the declared size in the message: refused from the Content-Length header, not by counting the body
    with pytest.raises(FetchError, match=r"too large \(5000000 bytes, limit 1000\).*raise CAST_MAX_TRANSCRIPT_BYTES"):
        get(url, max_bytes=1000, limit_hint="CAST_MAX_TRANSCRIPT_BYTES")


def test_a_gzip_bomb_is_stopped_by_counting_decoded_bytes(http_server: LocalHTTPServer) -> None:
    packed = gzip.compress(b"\0" * 20_000_000)
    assert len(packed) < 100_000
    url = http_server.add("/bomb", packed, headers={"Content-Encoding": "gzip"})
    with pytest.raises(FetchError, match="too large"):
        get(url, max_bytes=1_000_000)


@pytest.fixture
def endless_server() -> Iterator[tuple[str, list[int]]]:
    """A server streaming chunked data without Content-Length until the client hangs up."""
    sent = [0]

    class Endless(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            block = b"y" * 65536
            try:
                while sent[0] < 200_000_000:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
                    sent[0] += len(block)
            except OSError:
                pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/stream", sent
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_an_undeclared_endless_body_is_cut_off_near_the_limit(endless_server: tuple[str, list[int]]) -> None:
    url, sent = endless_server
    with pytest.raises(FetchError, match="too large"):
        get(url, max_bytes=1_000_000)
    time.sleep(0.2)
    assert sent[0] < 30_000_000  # limit plus socket buffers, nowhere near the 200 MB on offer


def test_a_slow_server_times_out(http_server: LocalHTTPServer) -> None:
    def slow(headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        time.sleep(1.5)
        return 200, {}, b"late"

    http_server.routes["/slow"] = Route(handler=slow)
    with pytest.raises(FetchError, match=r"timed out after 0\.3 s"):
        get(http_server.url("/slow"), timeout=0.3)


def test_a_refused_connection_is_a_fetch_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FetchError, match="connection failed"):
        get(f"http://127.0.0.1:{port}/feed.xml")


def test_unsupported_schemes_are_refused() -> None:
    with pytest.raises(FetchError, match="unsupported URL scheme 'ftp'"):
        get("ftp://example.com/feed.xml")


def test_file_urls_are_read_with_the_same_limit_and_validators(tmp_path: Path) -> None:
    feed = tmp_path / "my feed.xml"
    feed.write_bytes(b"<rss/>")
    url = feed.as_uri()
    first = get(url)
    assert first.body == b"<rss/>" and first.etag and first.last_modified  # type: ignore[attr-defined]
    assert get(url, etag=first.etag).not_modified  # type: ignore[attr-defined]
    feed.write_bytes(b"<rss>changed</rss>")
    assert get(url, etag=first.etag).body == b"<rss>changed</rss>"  # type: ignore[attr-defined]
    with pytest.raises(FetchError, match="too large"):
        get(url, max_bytes=5)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="no such file"):
        get((tmp_path / "gone.xml").as_uri())


def test_a_shared_client_pools_connections_and_sends_the_configured_agent(http_server: LocalHTTPServer) -> None:
    settings = load_settings(user_agent="pooled-agent/2")
    urls = [http_server.add(f"/f{i}", f"body {i}") for i in range(5)]
    with make_client(settings) as client:
        bodies = [fetch(u, max_bytes=100, timeout=5, user_agent=settings.user_agent, client=client).body for u in urls]
    assert bodies == [f"body {i}".encode() for i in range(5)]
    assert {r.headers["user-agent"] for r in http_server.requests} == {"pooled-agent/2"}


def test_download_to_file_never_leaves_a_partial_file(http_server: LocalHTTPServer, tmp_path: Path) -> None:
    ok = http_server.add("/a.mp3", b"ID3" + b"a" * 5000, "audio/mpeg")
    # small on the wire, large once decoded: the limit trips while the temp file is being written
    big = http_server.add("/b.mp3", gzip.compress(b"b" * 50_000), "audio/mpeg", headers={"Content-Encoding": "gzip"})
    info = download_to_file(ok, tmp_path / "a.mp3", max_bytes=10_000, timeout=5, user_agent=UA)
    assert info.content_type == "audio/mpeg" and (tmp_path / "a.mp3").stat().st_size == 5003
    with pytest.raises(FetchError):
        download_to_file(big, tmp_path / "b.mp3", max_bytes=10_000, timeout=5, user_agent=UA)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp3"]
