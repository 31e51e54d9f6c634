"""``cast-pipeline serve``: one Starlette app with the JSON API, the reader pages and MCP over HTTP.

Why one process: the embedding model and the opened index stay loaded between requests, so a warm
query costs milliseconds, and the three front ends share them. Routes:

- ``/api/health`` (never needs the token), ``/api/search``, ``/api/feeds``, ``/api/episodes``,
  ``/api/episodes/{key}``, ``/api/episodes/{key}/transcript?format=md|srt|vtt|json|txt&start=&end=``;
- ``/``, ``/feeds/{feed_key}``, ``/episodes/{key}``, ``/search``: the reader (see :mod:`.pages`);
- ``/mcp``: MCP streamable HTTP (see :mod:`.mcp_tools`).

Security: bound to 127.0.0.1 unless ``--host`` says otherwise, and then only with ``CAST_API_TOKEN``
set (:func:`check_exposure`). With a token every route but ``/api/health`` needs
``Authorization: Bearer <token>``; browsers may instead open any page once with ``?token=<token>``,
which sets an HttpOnly cookie. Errors are JSON ``{"error": "..."}`` with 400/401/404/503, and a failing
request never takes the service down.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from cast_pipeline.serve.library import Library, LibraryError

log = logging.getLogger(__name__)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
TOKEN_COOKIE = "cast_api_token"
OPEN_PATHS = ("/api/health",)


class ExposureError(ValueError):
    """The service would be reachable from other machines without a token."""


def check_exposure(host: str, token: str) -> None:
    if host not in LOCAL_HOSTS and not token:
        raise ExposureError(
            f"refusing to listen on {host} without a token: anyone on the network could read the archive. "
            "Set CAST_API_TOKEN to a long random secret (clients send it as 'Authorization: Bearer <token>'), "
            "or leave --host at 127.0.0.1"
        )


class BearerAuth:
    """ASGI middleware: every request but the open paths must carry the token (header or cookie)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    def _ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.token or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer" and self._ok(credentials.strip()):
            await self.app(scope, receive, send)
            return
        if self._ok(request.cookies.get(TOKEN_COOKIE)):
            await self.app(scope, receive, send)
            return
        if request.method == "GET" and self._ok(request.query_params.get("token")):
            target = request.url.remove_query_params("token")
            response: Response = RedirectResponse(str(target.path) + (f"?{target.query}" if target.query else ""), 303)
            response.set_cookie(TOKEN_COOKIE, self.token.decode(), httponly=True, samesite="strict")
            await response(scope, receive, send)
            return
        reason = "wrong token" if header or request.cookies.get(TOKEN_COOKIE) else "missing token"
        response = JSONResponse(
            {"error": f"{reason}: send 'Authorization: Bearer <CAST_API_TOKEN>' (or open a page once with ?token=)"},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="cast-pipeline"'},
        )
        await response(scope, receive, send)


def _error(exc: LibraryError) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=exc.status)


def api_routes(library: Library) -> list[Route]:
    async def run(fn: Any, *args: Any, **kwargs: Any) -> Any:
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(fn, *args, **kwargs)

    async def health(request: Request) -> JSONResponse:
        try:
            index = await run(library.index)
            state: dict[str, Any] = {
                "status": "ok", "generation": index.manifest.generation, "model": index.manifest.model,
                "updated": index.manifest.updated,
                "exact_rerank": "memory" if index.exact_vectors is not None else "lancedb",  # see search.rerank
            }  # fmt: skip
        except LibraryError as exc:
            state = {"status": "degraded", "error": str(exc)}
        return JSONResponse({"service": "cast-pipeline", "data_dir": str(library.paths.root), "index": state})

    async def search(request: Request) -> JSONResponse:
        q = request.query_params
        try:
            page = await run(
                library.search, q.get("q"), mode=q.get("mode") or "hybrid", feed=q.get("feed"),
                since=q.get("since"), until=q.get("until"), limit=q.get("limit"), offset=q.get("offset"),
                include_removed=q.get("include_removed"),
            )  # fmt: skip
        except LibraryError as exc:
            return _error(exc)
        return JSONResponse(page)

    async def feeds(request: Request) -> JSONResponse:
        try:
            return JSONResponse({"feeds": await run(library.feeds)})
        except LibraryError as exc:
            return _error(exc)

    async def episodes(request: Request) -> JSONResponse:
        q = request.query_params
        try:
            page = await run(
                library.episodes, feed=q.get("feed"), status=q.get("status"), title=q.get("title"),
                limit=q.get("limit"), offset=q.get("offset"),
            )  # fmt: skip
        except LibraryError as exc:
            return _error(exc)
        return JSONResponse(page)

    async def episode(request: Request) -> JSONResponse:
        try:
            return JSONResponse(await run(library.episode, request.path_params["key"]))
        except LibraryError as exc:
            return _error(exc)

    async def transcript(request: Request) -> Response:
        q = request.query_params
        try:
            text, media_type = await run(
                library.render, request.path_params["key"], q.get("format") or "json", q.get("start"), q.get("end")
            )
        except LibraryError as exc:
            return _error(exc)
        return PlainTextResponse(text, media_type=media_type)

    return [
        Route("/api/health", health),
        Route("/api/search", search),
        Route("/api/feeds", feeds),
        Route("/api/episodes", episodes),
        Route("/api/episodes/{key}", episode),
        Route("/api/episodes/{key}/transcript", transcript),
    ]


def warm_up(library: Library) -> None:
    """Open the index, read its row store and load the query encoder now, so the first query is as fast
    as the rest."""
    try:
        index = library.index()
        index.rows  # noqa: B018 - keys and times of every row (~1 s at 1M rows), see cast_pipeline.search.rowstore
        index.episode_text  # noqa: B018 - titles and descriptions in memory (~0.8 s per 10,000 episodes)
        from cast_pipeline.search.onnx_encoder import load_query_encoder

        load_query_encoder(index.manifest.model).encode(["warm up"])
        index.load_exact_vectors_in_background()  # exact re-ranking from memory, see cast_pipeline.search.rerank
    except Exception as exc:  # no index yet, model trouble: the first search will say why
        log.warning("warm-up skipped: %s", exc)


def build_app(
    library: Library,
    *,
    token: str = "",
    host: str = "127.0.0.1",
    warm: bool = True,
    on_start: Callable[[], None] | None = None,
    on_stop: Callable[[], None] | None = None,
) -> Starlette:
    """The service for ``library``; ``host`` is where it listens (MCP's DNS-rebinding guard depends on it).

    ``on_start`` runs at startup, once uvicorn handles SIGTERM/SIGINT itself (so a signal from then on
    always reaches ``on_stop``); ``on_stop`` runs at shutdown, inside the server (uvicorn re-raises
    SIGTERM after it, which would skip a caller's ``finally``)."""
    from mcp.server.transport_security import TransportSecuritySettings

    from cast_pipeline.serve.mcp_tools import build_mcp
    from cast_pipeline.serve.pages import page_routes

    check_exposure(host, token)
    mcp = build_mcp(library)
    security = None if host in LOCAL_HOSTS else TransportSecuritySettings(enable_dns_rebinding_protection=False)
    mcp_app = mcp.streamable_http_app(streamable_http_path="/mcp", host=host, transport_security=security)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if warm:
            threading.Thread(target=warm_up, args=(library,), name="warm-up", daemon=True).start()
        try:
            if on_start is not None:
                on_start()
            async with mcp.session_manager.run():
                yield
        finally:
            if on_stop is not None:
                on_stop()

    app = Starlette(routes=[*api_routes(library), *page_routes(library), *mcp_app.routes], lifespan=lifespan)
    app.add_middleware(BearerAuth, token=token)
    app.state.library = library
    return app
