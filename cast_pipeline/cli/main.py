"""The `cast-pipeline` command: run the pipeline, manage feeds, show transcripts.

Sub-commands live in their own modules and are registered here. The command finds its Dagster
definitions by import (cast_pipeline.definitions), never through the current directory, so it works
from anywhere; data goes to CAST_DATA_DIR and Dagster's records to DAGSTER_HOME.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from cast_pipeline.settings import settings_help

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no "Loading weights" bar on every model load
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")

HELP = f"""Podcast feeds to searchable transcripts, transcript-first, on Dagster.

\b
Settings (environment variables):
{settings_help()}
  DAGSTER_HOME                 Dagster instance folder (default: ./.dagster_home, created with the
                               project's dagster.yaml)
"""

app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


# Commands that never touch Dagster: run as `cast-pipeline <command>`, only their module is imported, so
# a cold `cast-pipeline search` does not pay seconds for importing Dagster (feeds and run import it).
_LIGHT = {"search": "search", "serve": "serve", "mcp": "serve", "transcript": None}


def _light_command(argv: list[str]) -> str | None:
    if Path(argv[0]).name not in ("cast-pipeline", "main.py") or len(argv) < 2 or "--help" in argv:
        return None
    return argv[1] if argv[1] in _LIGHT else None


def _register() -> None:
    light = _light_command(sys.argv)
    if light is None or light == "transcript":  # transcript imports the speakers stack (scipy): ~1 s cold
        from cast_pipeline.cli import transcript

        app.add_typer(transcript.app, name="transcript")
    if light is not None:
        if light != "transcript":
            app.callback()(lambda: None)  # keeps `cast-pipeline <command>` a group with a single command
        if _LIGHT[light]:
            __import__(f"cast_pipeline.cli.{_LIGHT[light]}", fromlist=["register"]).register(app)
        return
    from cast_pipeline.cli import episodes, feeds, run

    app.add_typer(feeds.app, name="feeds")
    app.add_typer(episodes.app, name="episodes")
    app.command("run")(run.run)
    for optional in ("transcribe", "search", "doctor", "serve", "worker"):  # speech, search, health, serve, fleet
        try:
            module = __import__(f"cast_pipeline.cli.{optional}", fromlist=["register"])
        except ModuleNotFoundError:
            continue
        module.register(app)


_register()

if __name__ == "__main__":
    app()
