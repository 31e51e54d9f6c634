"""`cast-pipeline transcript show KEY|KEY-PREFIX|--title TEXT --format md|srt|vtt|json|txt`."""

from __future__ import annotations

import sys

import typer

from cast_pipeline.feeds.snapshot import load_episode
from cast_pipeline.paths import DataPaths
from cast_pipeline.settings import load_settings
from cast_pipeline.transcripts.render import render
from cast_pipeline.transcripts.status import EpisodeLookupError, find_episode
from cast_pipeline.transcripts.store import load_transcript

app = typer.Typer(help="Show transcripts.", no_args_is_help=True)
FORMATS = ("md", "srt", "vtt", "json", "txt")


@app.command("show")
def show(
    episode: str | None = typer.Argument(
        None, help="Episode key or a unique start of it (see `cast-pipeline episodes list`)."
    ),
    title: str | None = typer.Option(None, "--title", "-t", help="Find the episode by a part of its title instead."),
    fmt: str = typer.Option("md", "--format", "-f", help="One of: " + ", ".join(FORMATS)),
) -> None:
    """Print an episode's transcript in the chosen format."""
    if fmt not in FORMATS:
        typer.echo(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}", err=True)
        raise typer.Exit(2)
    if (episode is None) == (title is None):
        typer.echo("give an episode key (or its start) or --title TEXT, not both", err=True)
        raise typer.Exit(2)
    paths = DataPaths(load_settings().data_dir)
    try:
        episode_key = find_episode(paths, episode, title=title)
    except EpisodeLookupError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    try:
        doc = load_transcript(paths, episode_key)
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"{_title(paths, episode_key)}{exc}", err=True)
        raise typer.Exit(1) from None
    sys.stdout.write(render(fmt, doc.segments, **doc.render_header()))


def _title(paths: DataPaths, episode_key: str) -> str:
    """``'Title': `` from the episode's snapshot, so an error names the episode as people know it."""
    try:
        return f"{load_episode(paths, episode_key).title!r}: "
    except Exception:  # no snapshot, invalid key: the key in the message has to do
        return ""
