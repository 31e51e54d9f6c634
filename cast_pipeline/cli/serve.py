"""``cast-pipeline serve`` (API, reader, MCP over HTTP) and ``cast-pipeline mcp`` (MCP over stdio)."""

from __future__ import annotations

import logging
import sys

import typer

from cast_pipeline.paths import DataPaths
from cast_pipeline.settings import load_settings


def serve_command(
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on; anything but localhost needs CAST_API_TOKEN."
    ),
    port: int = typer.Option(8765, "--port", "-p", min=0, max=65535, help="Port (0: any free port)."),
    dagster_url: str | None = typer.Option(
        None, "--dagster-url", help="Dagster UI base URL for episode links (default: CAST_DAGSTER_UI_URL)."
    ),
) -> None:
    """Serve the archive: JSON API (/api), reader web pages (/) and MCP (/mcp); the index stays loaded."""
    import socket

    import uvicorn

    from cast_pipeline.serve import runtime
    from cast_pipeline.serve.app import ExposureError, build_app, check_exposure
    from cast_pipeline.serve.library import Library

    settings = load_settings()
    library = Library(DataPaths(settings.data_dir), dagster_ui_url=dagster_url or settings.dagster_ui_url)
    try:
        check_exposure(host, settings.api_token)
    except ExposureError as exc:
        typer.echo(f"cannot serve: {exc}", err=True)
        raise typer.Exit(2) from None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        typer.echo(f"cannot serve on {host}:{port}: {exc.strerror or exc} (choose another --port)", err=True)
        raise typer.Exit(1) from None
    sock.listen(2048)  # connections queue from now on, so a client reading the runtime file is never refused
    bound = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{f'[{shown}]' if ':' in shown else shown}:{bound}"
    # the runtime file is written at startup, once uvicorn handles SIGTERM, and removed at shutdown
    app = build_app(
        library, token=settings.api_token, host=host, on_start=lambda: runtime.announce(settings.data_dir, url),
        on_stop=lambda: runtime.withdraw(settings.data_dir),
    )  # fmt: skip
    typer.echo(f"serving {settings.data_dir} at {url}  (reader: {url}/  API: {url}/api  MCP: {url}/mcp)", err=True)
    try:
        uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])
    finally:
        runtime.withdraw(settings.data_dir)


def mcp_command() -> None:
    """Run the MCP server on stdin/stdout (for desktop assistants; logs go to stderr)."""
    from cast_pipeline.serve.library import Library
    from cast_pipeline.serve.mcp_tools import build_mcp

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    settings = load_settings()
    library = Library(DataPaths(settings.data_dir), dagster_ui_url=settings.dagster_ui_url)
    build_mcp(library).run("stdio")


def register(app: typer.Typer) -> None:
    """Called by cast_pipeline.cli.main: adds ``serve`` and ``mcp``."""
    app.command("serve")(serve_command)
    app.command("mcp")(mcp_command)
