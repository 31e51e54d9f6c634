"""`cast-pipeline transcript show KEY --format md|srt|vtt|json|txt`."""

from __future__ import annotations

import sys
from datetime import datetime

import typer

from cast_pipeline.feeds.snapshot import load_episode
from cast_pipeline.paths import DataPaths
from cast_pipeline.settings import load_settings
from cast_pipeline.transcripts.render import render
from cast_pipeline.transcripts.store import load_transcript

app = typer.Typer(help="Show transcripts.", no_args_is_help=True)
FORMATS = ("md", "srt", "vtt", "json", "txt")


@app.command("show")
def show(
    episode_key: str = typer.Argument(..., help="Episode partition key (see the Dagster UI or the catalog)."),
    fmt: str = typer.Option("md", "--format", "-f", help="One of: " + ", ".join(FORMATS)),
) -> None:
    """Print an episode's transcript in the chosen format."""
    if fmt not in FORMATS:
        typer.echo(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}", err=True)
        raise typer.Exit(2)
    paths = DataPaths(load_settings().data_dir)
    try:
        doc = load_transcript(paths, episode_key)
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"{_title(paths, episode_key)}{exc}", err=True)
        raise typer.Exit(1) from None
    meta = doc.meta
    header = {
        "title": meta.get("title") or episode_key,
        "feed_title": meta.get("feed_title") or "",
        "published": datetime.fromisoformat(meta["published"]) if meta.get("published") else None,
        "source": doc.source,
    }
    sys.stdout.write(render(fmt, doc.segments, **header))


def _title(paths: DataPaths, episode_key: str) -> str:
    """``'Title': `` from the episode's snapshot, so an error names the episode as people know it."""
    try:
        return f"{load_episode(paths, episode_key).title!r}: "
    except Exception:  # no snapshot, invalid key: the key in the message has to do
        return ""
