"""`cast-pipeline search "query"`: ranked hits from the search index, for people (rich) or programs (--json).

Why a thin layer: ranking, filters and highlighting live in :func:`cast_pipeline.search.search`, which the
notebooks call too; this module only formats its DataFrame. Episodes whose title or description match
come first as their own result type, then transcript phrases with a timestamp and a play link that
starts the audio there (``#t=<seconds>``, a media fragment most players honour).
"""

from __future__ import annotations

import json
import math
import sys
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape

from cast_pipeline.paths import DataPaths
from cast_pipeline.settings import load_settings

MATCHED = {"keyword": "keyword", "meaning": "meaning", "both": "keyword + meaning"}


class SearchMode(StrEnum):
    hybrid = "hybrid"
    keyword = "keyword"
    semantic = "semantic"


def search_command(
    query: str = typer.Argument(..., help='What to look for; "quoted phrases" must occur verbatim.'),
    mode: SearchMode = typer.Option(
        SearchMode.hybrid, "--mode", "-m", help="keyword (full text), semantic (by meaning) or hybrid (both)."
    ),
    feed: str | None = typer.Option(None, "--feed", "-f", help="Only this feed (its title, URL or feed key)."),
    since: str | None = typer.Option(None, "--since", help="Only episodes published on or after YYYY-MM-DD."),
    limit: int = typer.Option(10, "--limit", "-n", min=1, help="At most this many results."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as a JSON array (one object per hit)."),
    include_removed: bool = typer.Option(
        False, "--include-removed", help="Also episodes that left their feed (hidden by default)."
    ),
) -> None:
    """Search every indexed transcript: episode title/description matches first, then phrases."""
    if not include_removed and _search_service(query, mode.value, feed, since, limit, as_json):
        return
    from cast_pipeline.cli.coldstart import skip_lance_rest_client

    skip_lance_rest_client()
    from cast_pipeline.search import IndexDamagedError, IndexNotBuiltError, SearchError, search
    from cast_pipeline.search.health import FIX, index_damage

    paths = DataPaths(load_settings().data_dir)
    try:
        hits = search(
            query, mode=mode.value, feed=feed, since=since, limit=limit, paths=paths, include_removed=include_removed
        )
    except IndexNotBuiltError as exc:
        typer.echo(f"cannot search: {exc}", err=True)
        raise typer.Exit(1) from None
    except IndexDamagedError as exc:
        typer.echo(f"cannot search: {exc}; {FIX}", err=True)
        raise typer.Exit(1) from None
    except ValueError as exc:  # empty query, unknown feed, bad date
        typer.echo(f"cannot search: {exc}", err=True)
        raise typer.Exit(2) from None
    except SearchError as exc:
        typer.echo(f"cannot search: {exc}", err=True)
        raise typer.Exit(1) from None
    except Exception:  # a damaged index file fails deep inside LanceDB/DuckDB: say which, in one line
        damage = index_damage(paths)
        if damage is None:
            raise
        typer.echo(f"cannot search: {damage}; {FIX}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        sys.stdout.write(json.dumps(records(hits), ensure_ascii=False, indent=1) + "\n")
        return
    print_hits(Console(highlight=False, soft_wrap=False), query, mode.value, hits)


def _search_service(query: str, mode: str, feed: str | None, since: str | None, limit: int, as_json: bool) -> bool:
    """Answer through a running ``cast-pipeline serve`` of this data directory; False when there is none."""
    from cast_pipeline.serve.client import ServiceDown, ServiceRefused, remote_search
    from cast_pipeline.serve.runtime import service_url

    settings = load_settings()
    url = service_url(settings.data_dir, settings.service_url)
    if url is None or limit > 100:  # the service pages at most 100 results
        return False
    try:
        found = remote_search(url, settings.api_token, q=query, mode=mode, feed=feed, since=since, limit=limit)
    except ServiceDown:
        return False  # a stale runtime file or a stopped service: search locally
    except ServiceRefused as exc:
        typer.echo(f"cannot search: {exc}", err=True)
        raise typer.Exit(2 if exc.status < 500 else 1) from None
    if as_json:
        sys.stdout.write(json.dumps(found, ensure_ascii=False, indent=1) + "\n")
    else:
        print_hits(Console(highlight=False, soft_wrap=False), query, mode, pd.DataFrame(found))
    return True


def _plain(value: Any) -> Any:
    """A JSON-friendly value: timestamps as ISO 8601, missing values (NaN, NaT, NA) as null."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def records(hits: pd.DataFrame) -> list[dict[str, Any]]:
    """The result rows as plain dicts (the columns of :data:`cast_pipeline.search.RESULT_COLUMNS`)."""
    return [{k: _plain(v) for k, v in row.items()} for row in hits.astype(object).to_dict("records")]


def marked(text: str, color: bool = True) -> str:
    """Rich markup of a highlighted snippet: ``**term**`` in bold yellow, everything else escaped.

    Without colours (a pipe, a file, NO_COLOR) the ``**`` marks stay, so the matches remain visible.
    """
    parts = text.split("**")
    if not color or len(parts) % 2 == 0:  # an unpaired ** is literal text, not a highlight
        return escape(text)
    return "".join(f"[bold yellow]{escape(p)}[/]" if i % 2 else escape(p) for i, p in enumerate(parts))


def _date(value: Any) -> str:
    return pd.Timestamp(value).date().isoformat() if _plain(value) is not None else "undated"


def print_hits(console: Console, query: str, mode: str, hits: pd.DataFrame) -> None:
    """Numbered hits: where (title, feed, date, time), what (the phrase), how (matched by), and a play link."""
    if hits.empty:
        console.print(f"no results for {escape(repr(query))} ({mode})")
        return
    console.print(f"{len(hits)} results for {escape(repr(query))} ({mode})\n")
    for number, hit in enumerate(hits.itertuples(index=False), 1):
        where = f"[bold]{escape(hit.title)}[/] — {escape(hit.feed_title or '')} · {_date(hit.published)}"
        if hit.result_type == "episode":
            console.print(f"{number:>2}. [reverse] EPISODE [/] {where} · matched in title/description")
        else:
            how = MATCHED.get(hit.matched_by, hit.matched_by)
            console.print(f"{number:>2}. {where} · [cyan]{hit.timestamp}[/] · matched by {how}")
        speaker = _plain(getattr(hit, "speaker", None))  # who said it, when the transcript knows
        said = f"[bold]{escape(str(speaker))}:[/] " if speaker else ""
        console.print(f"    {said}{marked(hit.highlighted, color=console.color_system is not None)}")
        if hit.play_url:
            console.print(f"    ▶ [link={hit.play_url}]{escape(hit.play_url)}[/link]")
        console.print()


def register(app: typer.Typer) -> None:
    """Called by cast_pipeline.cli.main: adds the ``search`` command."""
    app.command("search")(search_command)
