"""`cast-pipeline feeds add|list|remove`: the feeds partitions of the Dagster instance.

A feed is registered as a partition of the ``feeds`` partition set (key: its URL), exactly what the
Dagster UI's "add partition" does, so all three ways of adding feeds (CLI, feeds.yaml, UI) meet in
one place.
"""

from __future__ import annotations

import json
import shlex

import typer
from rich.console import Console
from rich.table import Table

from cast_pipeline.defs.feeds.partitions import FEEDS
from cast_pipeline.defs.feeds.sensors import feeds_from_file
from cast_pipeline.feeds.apple import resolve_feed_url
from cast_pipeline.feeds.check import check_feed
from cast_pipeline.feeds.identity import same_show
from cast_pipeline.feeds.parse import FeedError
from cast_pipeline.feeds.registry import normalize_feed_input, remove_from_feeds_file
from cast_pipeline.http import make_client
from cast_pipeline.instance import get_instance
from cast_pipeline.keys import feed_key
from cast_pipeline.paths import DataPaths
from cast_pipeline.settings import load_settings

app = typer.Typer(help="Register, list and remove podcast feeds.", no_args_is_help=True)
console = Console()


def resolve_input(url: str) -> str:
    """A feed URL from user input: bare hosts, file paths and Apple Podcasts pages accepted."""
    settings = load_settings()
    normalized = normalize_feed_input(url)
    with make_client(settings) as client:
        return resolve_feed_url(normalized, settings.itunes_lookup_url, client)


@app.command("add")
def add(
    urls: list[str] = typer.Argument(..., help="Feed URLs, file paths or Apple Podcasts URLs."),
    check: bool = typer.Option(
        True, "--check/--no-check", help="Fetch and parse each feed first and refuse a broken one (default)."
    ),
) -> None:
    """Register feeds (an Apple Podcasts URL is resolved to its RSS feed through the iTunes lookup API).

    Each feed is fetched and parsed first: its title, episode count and how many episodes carry a
    publisher transcript are printed; a typo, a missing file, an unreachable host, an HTML page or
    unreadable XML stops with the reason (``--no-check`` registers it anyway).
    """
    settings = load_settings()
    instance = get_instance()
    known = set(instance.get_dynamic_partitions(FEEDS))
    added: list[str] = []
    for raw in urls:
        try:
            url = resolve_input(raw)
        except Exception as exc:
            console.print(f"[red]cannot add {raw}[/red]: {exc}")
            raise typer.Exit(1) from None
        if url in known:
            console.print(f"already registered: {url}")
            continue
        if check:
            with make_client(settings) as client:
                try:
                    found = check_feed(url, settings, client)
                except FeedError as exc:
                    console.print(f"[red]not added: {raw}[/red]: {exc.reason}")
                    console.print("(to register it anyway, e.g. a feed that is down right now: add --no-check)")
                    raise typer.Exit(1) from None
            console.print(
                f"{found.title or '(untitled feed)'}: {found.episodes} episode{'' if found.episodes == 1 else 's'}, "
                f"{found.with_transcripts} with a publisher transcript"
            )
            for problem in found.problems[:5]:
                console.print(f"  [yellow]warning[/yellow]: {problem}")
            original = same_show(DataPaths(settings.data_dir), found.podcast_guid, feed_key(url))
            if original is not None:
                console.print(
                    f"  same show as {original.url} (podcast:guid {found.podcast_guid}): that feed will be fetched "
                    "from this URL and keep its episodes; none are added twice"
                )
        instance.add_dynamic_partitions(FEEDS, [url])
        known.add(url)
        added.append(url)
        console.print(f"added {url} (feed key {feed_key(url)})")
    if added:
        feeds = " ".join(f"--feed {shlex.quote(u)}" for u in added)
        console.print(
            f"next: `cast-pipeline run {feeds}` processes it now; or, with `dagster dev` and the new_episodes "
            "sensor running, its episodes are picked up on the next tick (within a minute)."
        )


@app.command("list")
def list_feeds(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """Registered feeds: URL, key, title and episode count of the last refresh."""
    settings = load_settings()
    paths = DataPaths(settings.data_dir)
    instance = get_instance()
    in_instance = list(instance.get_dynamic_partitions(FEEDS))
    in_file = [u for u in feeds_from_file(settings) if u not in in_instance]
    rows = []
    for url, origin in [(u, "instance") for u in in_instance] + [(u, "feeds.yaml") for u in in_file]:
        key = feed_key(url)
        state_path = paths.feed_fetch_state(key)
        state = json.loads(state_path.read_text()) if state_path.exists() else {}
        rows.append({"url": url, "key": key, "registered_in": origin, **_summary(state)})
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    table = Table("URL", "key", "registered in", "title", "episodes", "last error")
    for r in rows:
        table.add_row(r["url"], r["key"], r["registered_in"], r["title"], str(r["episodes"]), r["error"])
    console.print(table)


def _summary(state: dict) -> dict:
    return {
        "title": str(state.get("title") or ""),
        "episodes": state.get("episodes", ""),
        "error": str(state.get("last_error") or ""),
    }


@app.command("remove")
def remove(url: str = typer.Argument(..., help="The feed URL as listed by `feeds list`.")) -> None:
    """Unregister a feed (its episodes and transcripts stay on disk and in the instance)."""
    settings = load_settings()
    instance = get_instance()
    target = normalize_feed_input(url)
    removed = False
    for candidate in {url, target}:
        if instance.has_dynamic_partition(FEEDS, candidate):
            instance.delete_dynamic_partition(FEEDS, candidate)
            removed = True
    if settings.feeds_file.exists() and target in feeds_from_file(settings):
        remove_from_feeds_file(settings.feeds_file, target)
        console.print(f"removed {target} from {settings.feeds_file}")
        removed = True
    if not removed:
        console.print(f"[red]not registered:[/red] {url} (see `cast-pipeline feeds list`)")
        raise typer.Exit(1)
    console.print(f"removed {target}; its episodes are kept")
