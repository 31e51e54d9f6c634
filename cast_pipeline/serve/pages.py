"""The reader: server-rendered HTML pages (Jinja2) with a few lines of JavaScript, no build step.

Feeds -> a feed's episodes -> an episode's transcript (speakers, timestamps that seek the embedded
audio player, a link to the episode's partition in the Dagster UI), and a search page whose
highlighted hits open the transcript at the hit (``?t=<seconds>#seg-<index>``: the page marks that
phrase, scrolls to it and sets the player there). Templates live in ``templates/``; every value is
auto-escaped, and the search highlight marks (``**word**``) become ``<mark>`` only after escaping.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from cast_pipeline.search.text import highlight, parse_query, timestamp
from cast_pipeline.serve.library import Library, LibraryError

TEMPLATES = Path(__file__).parent / "templates"
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def marks(text: str | None) -> Markup:
    """``**word**`` highlight marks as ``<mark>`` elements, everything else escaped."""
    parts = str(text or "").split("**")
    if len(parts) % 2 == 0:
        return Markup(escape(text or ""))
    return Markup("".join(f"<mark>{escape(p)}</mark>" if i % 2 else str(escape(p)) for i, p in enumerate(parts)))


_env.filters["marks"] = marks
_env.filters["clock"] = lambda s: timestamp(s) or ""
_env.filters["day"] = lambda v: (v or "")[:10] or "undated"


def render_page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(_env.get_template(name).render(**context), status_code=status)


def error_page(exc: LibraryError) -> HTMLResponse:
    return render_page("error.html", exc.status, title="Error", message=str(exc), status=exc.status)


def _hit_index(segments: list[Any], t: float | None) -> int | None:
    """Index of the phrase playing at ``t`` seconds (the last one starting at or before it)."""
    if t is None:
        return None
    found = None
    for i, s in enumerate(segments):
        if s.start <= t + 0.001:
            found = i
    return found


def page_routes(library: Library) -> list[Route]:
    async def feeds(request: Request) -> HTMLResponse:
        try:
            rows = await run_in_threadpool(library.feeds)
        except LibraryError as exc:
            return error_page(exc)
        return render_page("feeds.html", title="Feeds", feeds=rows)

    async def feed(request: Request) -> HTMLResponse:
        key = request.path_params["feed_key"]
        title = request.query_params.get("title") or ""
        status = request.query_params.get("status") or None
        try:
            page = await run_in_threadpool(library.episodes, feed=key, title=title, status=status, limit=500)
            info = next((f for f in await run_in_threadpool(library.feeds) if f["key"] == key), None)
        except LibraryError as exc:
            return error_page(exc)
        return render_page(
            "episodes.html", title=(info or {}).get("title") or key, feed=info, page=page, filter_title=title,
            filter_status=status or "",
        )  # fmt: skip

    async def episode(request: Request) -> HTMLResponse:
        key = request.path_params["key"]
        query = request.query_params.get("q") or ""
        try:
            t = float(request.query_params.get("t") or "nan")
        except ValueError:
            t = math.nan
        try:
            record = await run_in_threadpool(library.episode, key)
            doc = await run_in_threadpool(library.transcript, key)
        except LibraryError as exc:
            return error_page(exc)
        terms: tuple[str, ...] = ()
        if query.strip():
            try:
                terms = parse_query(query).terms
            except ValueError:
                terms = ()
        hit = _hit_index(doc.segments, t if math.isfinite(t) else None)
        segments = [
            {
                "index": i, "start": s.start, "speaker": s.speaker,
                "text": highlight(s.text, terms) if terms else s.text, "hit": i == hit,
            }
            for i, s in enumerate(doc.segments)
        ]  # fmt: skip
        return render_page(
            "episode.html", title=record["title"], episode=record, source=doc.source, segments=segments,
            start=t if math.isfinite(t) else None, query=query,
        )  # fmt: skip

    async def search(request: Request) -> HTMLResponse:
        q = request.query_params
        query = q.get("q") or ""
        context: dict[str, Any] = {
            "title": "Search",
            "query": query,
            "mode": q.get("mode") or "hybrid",
            "feed": q.get("feed") or "",
            "results": None,
            "error": None,
        }
        if query.strip():
            try:
                page = await run_in_threadpool(
                    library.search, query, mode=context["mode"], feed=context["feed"] or None, limit=q.get("limit")
                )
                context["results"] = page["results"]
            except LibraryError as exc:
                context["error"] = str(exc)
                return render_page("search.html", exc.status, **context)
        return render_page("search.html", **context)

    return [
        Route("/", feeds),
        Route("/feeds/{feed_key}", feed),
        Route("/episodes/{key}", episode),
        Route("/search", search),
    ]
