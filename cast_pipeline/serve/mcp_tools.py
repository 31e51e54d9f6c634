"""MCP tools and resources over the archive (official ``mcp`` SDK), for AI assistants.

Why the same :class:`~cast_pipeline.serve.library.Library` as the HTTP API: an assistant and a person
see the same search results and the same error messages. Two transports share one server definition:
stdio (``cast-pipeline mcp``, what desktop assistants launch) and streamable HTTP at ``/mcp`` of
``cast-pipeline serve`` (behind the same bearer token as the API when exposed).

Tools: ``search``, ``get_transcript`` (whole or a time range), ``list_episodes``, ``list_feeds``.
Resources: ``transcript://{episode_key}`` (Markdown) for every transcript, listed per episode too.
Errors become MCP tool errors with the library's message (e.g. "unknown episode ...").
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError

from cast_pipeline.serve.library import Library, LibraryError

INSTRUCTIONS = (
    "Podcast transcripts archived by cast-pipeline. Use search to find where something was said (each "
    "hit has episode_key, start seconds and a play_url), get_transcript to read around a hit "
    "(start/end in seconds), list_feeds and list_episodes to browse."
)


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except LibraryError as exc:
        raise ToolError(str(exc)) from None


def build_mcp(library: Library) -> MCPServer:
    """The MCP server definition over ``library`` (transport-independent)."""
    server = MCPServer("cast-pipeline", instructions=INSTRUCTIONS, version="0.1.0", log_level="WARNING")

    @server.tool()
    def search(
        query: str,
        mode: str = "hybrid",
        feed: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> dict[str, Any]:
        """Search every indexed transcript. mode: hybrid (default), keyword or semantic. feed: key, title or
        URL. since/until: YYYY-MM-DD. Episode title/description matches come first, then phrases with
        their start time (seconds), highlighted text (**marks**) and a play_url that starts the audio there."""
        return _call(library.search, query, mode=mode, feed=feed, since=since, until=until, limit=limit, offset=offset)

    @server.tool()
    def get_transcript(
        episode_key: str, start: float | None = None, end: float | None = None, format: str = "txt"
    ) -> str:
        """An episode's transcript, whole or the part between start and end (seconds). format: txt (default,
        with speakers), md (with timestamps), vtt, srt or json."""
        text, _ = _call(library.render, episode_key, format, start, end)
        return text

    @server.tool()
    def list_episodes(
        feed: str | None = None, status: str | None = None, title: str | None = None, limit: int = 50, offset: int = 0
    ) -> dict[str, Any]:
        """Episodes newest first. feed: key, title or URL; status: indexed, transcribed or pending; title: a
        substring of the title. Returns total and one page of episodes (key, title, published, status)."""
        return _call(library.episodes, feed=feed, status=status, title=title, limit=limit, offset=offset)

    @server.tool()
    def list_feeds() -> list[dict[str, Any]]:
        """Every feed with its episode counts (indexed, transcribed, pending)."""
        return _call(library.feeds)

    @server.resource(
        "transcript://{episode_key}",
        name="transcript",
        description="An episode's transcript as Markdown with timestamps and speakers.",
        mime_type="text/markdown",
    )
    def transcript(episode_key: str) -> str:
        try:
            return library.render(episode_key, "md")[0]
        except LibraryError as exc:
            raise ResourceError(str(exc)) from None

    return server
