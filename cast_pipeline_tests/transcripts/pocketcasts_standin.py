"""A local stand-in of the public Pocket Casts endpoints, real HTTP on 127.0.0.1.

Same shapes as the real API (see cast_pipeline/transcripts/providers/pocketcasts_api.py):

- ``POST /discover/search`` with ``{"term": ...}`` -> JSON list ``[{"uuid", "title", "author", ...}]``
  (shows whose title contains the term, case-insensitive, or whose feed URL is the term);
- ``GET /mobile/show_notes/full/<uuid>`` -> 302 to ``/static/show_notes/<uuid>.json``, the static
  file ``{"podcast": {"uuid", "episodes": [{"uuid", "title", "url", "published", "show_notes",
  "hash", "modified", "transcripts", "pocket_casts_transcripts": [{"url", "type"}]}]}}``;
- ``GET /transcripts/<show>/<episode>.vtt`` -> the WebVTT file.

``fault(path, status, body, headers)`` replaces the answer of one path (HTML, empty, 429 with
Retry-After, redirect loops, binary files); every request is recorded.
"""

from __future__ import annotations

import json
import threading
import uuid as uuidlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class PCEpisode:
    title: str
    published: str  # ISO, e.g. 2023-03-06T10:00:00Z
    vtt: str | bytes | None = None  # None: no pocket_casts_transcripts entry
    uuid: str = field(default_factory=lambda: str(uuidlib.uuid4()))


@dataclass
class PCShow:
    title: str
    author: str
    feed_url: str
    episodes: list[PCEpisode]
    uuid: str = field(default_factory=lambda: str(uuidlib.uuid4()))


@dataclass
class Recorded:
    method: str
    path: str
    body: bytes


class PocketCastsStandIn:
    def __init__(self) -> None:
        self.shows: list[PCShow] = []
        self.faults: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.requests: list[Recorded] = []
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._answer(b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._answer(self.rfile.read(length))

            def _answer(self, body: bytes) -> None:
                standin.requests.append(Recorded(self.command, self.path, body))
                status, headers, out = standin.faults.get(self.path) or standin.route(self.command, self.path, body)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def add_show(self, show: PCShow) -> PCShow:
        self.shows.append(show)
        return show

    def fault(self, path: str, status: int, body: bytes | str = b"", headers: dict[str, str] | None = None) -> None:
        self.faults[path] = (status, headers or {}, body.encode() if isinstance(body, str) else body)

    def requests_to(self, prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith(prefix)]

    def vtt_path(self, show: PCShow, episode: PCEpisode) -> str:
        return f"/transcripts/{show.uuid}/{episode.uuid}.vtt"

    def route(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        json_type = {"Content-Type": "application/json"}
        if method == "POST" and path == "/discover/search":
            term = str(json.loads(body or b"{}").get("term") or "").strip()
            hits = [s for s in self.shows if term and (term.lower() in s.title.lower() or term == s.feed_url)]
            listing = [{"uuid": s.uuid, "title": s.title, "author": s.author, "description": ""} for s in hits]
            return 200, json_type, json.dumps(listing).encode()
        if method == "GET" and path.startswith("/mobile/show_notes/full/"):
            show_id = path.rsplit("/", 1)[-1]
            return 302, {"Location": f"/static/show_notes/{show_id}.json"}, b""
        if method == "GET" and path.startswith("/static/show_notes/"):
            show = next((s for s in self.shows if path == f"/static/show_notes/{s.uuid}.json"), None)
            if show is None:
                return 404, {"Content-Type": "text/plain"}, b"not found"
            return (
                200,
                json_type,
                json.dumps({"podcast": {"uuid": show.uuid, "episodes": self._episodes(show)}}).encode(),
            )
        for show in self.shows:
            for ep in show.episodes:
                if path == self.vtt_path(show, ep) and ep.vtt is not None:
                    data = ep.vtt.encode() if isinstance(ep.vtt, str) else ep.vtt
                    return 200, {"Content-Type": "text/vtt"}, data
        return 404, {"Content-Type": "text/plain"}, b"not found"

    def _episodes(self, show: PCShow) -> list[dict[str, object]]:
        return [
            {
                "uuid": ep.uuid,
                "title": ep.title,
                "url": f"https://cdn.example.org/{ep.uuid}.mp3",
                "published": ep.published,
                "show_notes": "<p>notes</p>",
                "hash": "x",
                "modified": 0,
                "transcripts": [],
                "pocket_casts_transcripts": (
                    [{"url": self.base_url + self.vtt_path(show, ep), "type": "text/vtt"}] if ep.vtt is not None else []
                ),
            }
            for ep in show.episodes
        ]

    def start(self) -> PocketCastsStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
