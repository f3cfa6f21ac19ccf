"""The stdio transport: the same tools, calling the REST API with the user's key."""
from __future__ import annotations

import subprocess
import sys

import anyio

from tests.conftest import AGENT, Tenant
from tests.mcp.client import error_text, structured
from tests.mcp.stdio import ROOT, stdio_client


def test_stdio_server_creates_and_reads_agents_through_the_rest_api(tenant: Tenant, other_tenant: Tenant) -> None:
    async def scenario() -> None:
        async with stdio_client(tenant.url(""), tenant.api_key) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert {"create_assistant", "dispatch_a_call", "get_call_log"} <= names
            agent = structured(await client.call_tool("create_agent", AGENT))
            assert structured(await client.call_tool("get_agent", {"agent_id": agent["id"]}))["name"] == AGENT["name"]
            updated = structured(await client.call_tool("update_agent", {"agent_id": agent["id"],
                                                                         "welcome_message": "Hi again."}))
            assert updated["welcome_message"] == "Hi again."
            bad = await client.call_tool("dispatch_call", {"agent_id": agent["id"], "to_number": "12"})
            assert bad.is_error and "to_number" in error_text(bad)
            no_number = await client.call_tool("dispatch_a_call", {"assistant_id": agent["id"],
                                                                   "to_number": "+14155550123"})
            assert no_number.is_error and "no phone number to call from" in error_text(no_number)
        async with stdio_client(tenant.url(""), other_tenant.api_key) as other:
            hidden = await other.call_tool("get_agent", {"agent_id": agent["id"]})
            assert hidden.is_error and "not found" in error_text(hidden)
        async with stdio_client(tenant.url(""), "pk_not_a_key") as stranger:
            refused = await stranger.call_tool("list_agents", {})
            assert refused.is_error and "Bearer" in error_text(refused)

    anyio.run(scenario)


def test_stdio_server_without_its_settings_says_what_to_set() -> None:
    result = subprocess.run([sys.executable, "-m", "chalicelib.mcp_server"], cwd=ROOT, env={"PATH": "/usr/bin"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "PARLEY_API_KEY" in result.stderr and "PARLEY_API_URL" in result.stderr
