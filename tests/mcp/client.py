"""The MCP SDK's own client over streamable HTTP, with a bearer key (shared by tests/mcp and tests/e2e)."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, TextContent


@asynccontextmanager
async def connected(url: str, api_key: str, transport: httpx2.AsyncBaseTransport | None = None,
                    ) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {api_key}"}, timeout=30, transport=transport)
    async with http, Client(streamable_http_client(url, http_client=http)) as client:
        yield client


def structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, error_text(result)
    assert result.structured_content is not None
    return result.structured_content


def error_text(result: CallToolResult) -> str:
    return " ".join(block.text for block in result.content if isinstance(block, TextContent))


def resource_json(contents: Any) -> Any:
    [content] = contents.contents
    return json.loads(content.text)


TERMINAL = {"completed", "failed", "busy", "no_answer"}


async def wait_for_end(client: Client, call_id: int, timeout_s: float) -> dict[str, Any]:
    """The call's log once the carrier has ended it (or as it is at the deadline), read with get_call_log."""
    deadline = anyio.current_time() + timeout_s
    while True:
        log = structured(await client.call_tool("get_call_log", {"call_log_id": call_id}))
        if log["call_status"] in TERMINAL or anyio.current_time() > deadline:
            return log
        await anyio.sleep(0.1)
