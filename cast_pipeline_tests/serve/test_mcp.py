"""MCP tools and resources, through the SDK's own client over both transports (stdio and streamable HTTP)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from cast_pipeline.paths import DataPaths
from cast_pipeline_tests.conftest import REPO_ROOT
from cast_pipeline_tests.serve.conftest import Service, start_service

pytestmark = pytest.mark.slow  # module setup embeds and indexes the corpus; stdio starts a process
TOKEN = "mcp-test-token"
Check = Callable[[Client], Awaitable[None]]


def _json(result: Any) -> Any:
    assert not result.is_error, result.content
    if result.structured_content is not None:
        return result.structured_content.get("result", result.structured_content)
    return json.loads(result.content[0].text)


async def exercise(client: Client) -> None:
    """What an assistant does: list tools, search, read around the hit, browse, read a resource."""
    tools = {t.name for t in (await client.list_tools()).tools}
    assert {"search", "get_transcript", "list_episodes", "list_feeds"} <= tools

    found = _json(await client.call_tool("search", {"query": "why do onions make you cry", "limit": 3}))
    hit = next(r for r in found["results"] if r["result_type"] == "segment")
    assert hit["title"] == "Why onions make you cry" and "cry" in hit["text"]

    window = await client.call_tool(
        "get_transcript", {"episode_key": hit["episode_key"], "start": hit["start"], "end": hit["start"] + 1}
    )
    assert not window.is_error and hit["text"] in window.content[0].text
    whole = await client.call_tool("get_transcript", {"episode_key": hit["episode_key"], "format": "md"})
    assert whole.content[0].text.startswith("# Why onions make you cry")

    feeds = _json(await client.call_tool("list_feeds", {}))
    assert "Kitchen Science" in {f["title"] for f in feeds}
    episodes = _json(await client.call_tool("list_episodes", {"feed": "Kitchen Science", "status": "indexed"}))
    assert episodes["total"] == 3

    missing = await client.call_tool("get_transcript", {"episode_key": "../../etc/passwd"})
    assert missing.is_error and "not an episode key" in missing.content[0].text
    empty = await client.call_tool("search", {"query": "   "})
    assert empty.is_error and "empty search query" in empty.content[0].text

    templates = (await client.list_resource_templates()).resource_templates
    assert [t.uri_template for t in templates] == ["transcript://{episode_key}"]
    resource = await client.read_resource(f"transcript://{hit['episode_key']}")
    assert resource.contents[0].text.startswith("# Why onions make you cry")


def test_mcp_over_streamable_http_on_the_service(archive: DataPaths) -> None:
    svc: Service = start_service(archive, token=TOKEN)

    async def main() -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with (
            create_mcp_http_client(headers=headers) as http,
            Client(streamable_http_client(f"{svc.url}/mcp", http_client=http)) as client,
        ):
            await exercise(client)

    try:
        asyncio.run(main())
    finally:
        svc.stop()


def test_mcp_over_stdio(archive: DataPaths) -> None:
    env = {k: v for k, v in os.environ.items() if k.startswith(("PATH", "HOME", "HF_", "TRANSFORMERS", "CAST_"))}
    env |= {"CAST_DATA_DIR": str(archive.root), "PYTHONPATH": str(REPO_ROOT), "DAGSTER_DISABLE_TELEMETRY": "1"}
    params = StdioServerParameters(command=sys.executable, args=["-m", "cast_pipeline.cli.main", "mcp"], env=env)

    async def main() -> None:
        async with Client(params, read_timeout_seconds=120) as client:
            await exercise(client)

    asyncio.run(main())
