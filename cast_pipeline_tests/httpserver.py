"""A real HTTP server on 127.0.0.1 for tests: feeds, transcripts, audio and lookup APIs.

Routes are registered per test. It honours what our clients rely on from real servers:
ETag / If-None-Match and Last-Modified / If-Modified-Since (304), byte ranges (206), redirects,
arbitrary status codes and headers, and it records every request so tests can assert on what was
sent (User-Agent, conditional headers, Range).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    ranges: bool = False
    # A handler overrides everything else: (request headers) -> (status, headers, body)
    handler: Callable[[dict[str, str]], tuple[int, dict[str, str], bytes]] | None = None


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]


class LocalHTTPServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[RecordedRequest] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_HEAD(self) -> None:
                self._serve(send_body=False)

            def do_GET(self) -> None:
                self._serve(send_body=True)

            def _serve(self, send_body: bool) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                server.requests.append(RecordedRequest(self.command, self.path, headers))
                route = server.routes.get(self.path) or server.routes.get(self.path.split("?")[0])
                if route is None:
                    self._send(404, {"Content-Type": "text/plain"}, b"not found", send_body)
                    return
                if route.handler is not None:
                    status, extra, body = route.handler(headers)
                    self._send(status, extra, body, send_body)
                    return
                out = dict(route.headers)
                if route.etag:
                    out["ETag"] = route.etag
                    if headers.get("if-none-match") == route.etag:
                        self._send(304, out, b"", send_body)
                        return
                if route.last_modified:
                    out["Last-Modified"] = route.last_modified
                    if headers.get("if-modified-since") == route.last_modified and not route.etag:
                        self._send(304, out, b"", send_body)
                        return
                body = route.body
                status = route.status
                if route.ranges:
                    out["Accept-Ranges"] = "bytes"
                    rng = headers.get("range", "")
                    if rng.startswith("bytes=") and status == 200:
                        start_s, _, end_s = rng[6:].partition("-")
                        start = int(start_s)
                        end = int(end_s) if end_s else len(body) - 1
                        out["Content-Range"] = f"bytes {start}-{end}/{len(body)}"
                        body = body[start : end + 1]
                        status = 206
                self._send(status, out, body, send_body)

            def _send(self, status: int, headers: dict[str, str], body: bytes, send_body: bool) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                # A handler may declare a Content-Length larger than the body it returns: the short
                # body is sent and the connection dropped, as when a download breaks mid-transfer.
                declared = next((int(v) for k, v in headers.items() if k.lower() == "content-length"), None)
                if status not in (204, 304) and declared is None:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if send_body and status not in (204, 304):
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        self.wfile.write(body)
                if declared is not None and declared > len(body):
                    self.close_connection = True

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        # a short poll interval makes stop() (and so every test's teardown) take ~0.05 s, not 0.5 s
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def add(self, path: str, body: bytes | str = b"", content_type: str | None = None, **kwargs: object) -> str:
        """Serve ``body`` at ``path``; returns the full URL."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        route = Route(body=data, **kwargs)  # type: ignore[arg-type]
        if content_type:
            route.headers.setdefault("Content-Type", content_type)
        self.routes[path] = route
        return self.url(path)

    def add_file(self, path: str, file: Path, content_type: str | None = None, **kwargs: object) -> str:
        return self.add(path, file.read_bytes(), content_type, **kwargs)

    def redirect(self, path: str, to: str, status: int = 302) -> str:
        self.routes[path] = Route(status=status, headers={"Location": to})
        return self.url(path)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.split("?")[0] == path]

    def start(self) -> LocalHTTPServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
