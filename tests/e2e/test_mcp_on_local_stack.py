"""The MCP server on the local stack (``mcp_url`` in .dev/stack.json), driven by the MCP SDK's own client over
streamable HTTP and over stdio: a call dispatched through MCP is completed by the carrier simulator and its
log read back; another account's key cannot see it; no key is a 401; bad arguments are tool errors."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from typing import Any

import anyio
import pytest
import requests

from tests.mcp.client import connected, error_text, structured, wait_for_end
from tests.mcp.stdio import stdio_client

# Calls only need to ring, answer and hang up: no voice, no models to load.
STACK_ENV = {"PARLEY_DEV_VOICE": "0"}

pytestmark = pytest.mark.slow

TWILIO_SID = "AC" + "e5" * 16


def other_account(stack: dict[str, Any]) -> dict[str, Any]:
    """A second account in the same stack, made the way an operator makes one (python -m cli.accounts)."""
    env = {**os.environ, "AWS_ENDPOINT_URL": stack["aws_endpoint_url"], "PARLEY_TABLE_PREFIX": stack["table_prefix"]}
    out = subprocess.run([sys.executable, "-m", "cli.accounts", "create", "Other tenant"], env=env, check=True,
                         capture_output=True, text=True, timeout=60).stdout
    return dict(json.loads(out))


def import_number(stack: dict[str, Any]) -> int:
    response = requests.post(f"{stack['api_url']}/phone_number/import/twilio", timeout=10,
                             headers={"Authorization": f"Bearer {stack['api_key']}"},
                             json={"phone_number": f"+1415{random.randrange(10**6, 10**7)}",
                                   "account_sid": TWILIO_SID, "account_token": "tok_" + "m" * 28})
    assert response.status_code == 201, response.text
    return int(response.json()["phone_number"]["id"])


def test_an_assistant_dispatches_a_call_through_mcp_and_reads_its_log(local_stack: dict[str, Any]) -> None:
    url, key = local_stack["mcp_url"], local_stack["api_key"]
    assert url == local_stack["api_url"] + "/mcp"
    number = import_number(local_stack)
    stranger = other_account(local_stack)

    async def scenario() -> int:
        async with connected(url, key) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert {"create_assistant", "dispatch_a_call", "create_agent", "dispatch_call", "get_call_log"} <= names
            agent = structured(await client.call_tool("create_agent", {
                "name": "MCP caller", "context_breakdown": [{"title": "Role", "body": "Confirm the booking."}]}))
            dispatched = structured(await client.call_tool("dispatch_call", {
                "agent_id": agent["id"], "to_number": "+14155550123", "from_number_id": number,
                "call_context": {"customer_name": "Ada"}}))
            call_id = int(dispatched["call_id"])
            log = await wait_for_end(client, call_id, timeout_s=60)
            assert log["call_status"] == "completed", log
            assert log["call_context"] == {"customer_name": "Ada"} and log["agent_id"] == agent["id"]
            bad = await client.call_tool("dispatch_a_call", {"assistant_id": agent["id"], "to_number": "555"})
            assert bad.is_error and "to_number" in error_text(bad)
        async with connected(url, stranger["api_key"]) as other:
            hidden = await other.call_tool("get_call_log", {"call_log_id": call_id})
            assert hidden.is_error and f"call {call_id} not found" in error_text(hidden)
            assert structured(await other.call_tool("list_call_logs", {}))["call_log_data"] == []
        return call_id

    call_id = anyio.run(scenario)

    async def over_stdio() -> None:
        async with stdio_client(local_stack["api_url"], key) as client:
            assert "dispatch_a_call" in {tool.name for tool in (await client.list_tools()).tools}
            log = structured(await client.call_tool("get_call_log", {"call_log_id": call_id}))
            assert log["call_status"] == "completed"
        async with stdio_client(local_stack["api_url"], stranger["api_key"]) as other:
            hidden = await other.call_tool("get_call_log", {"call_log_id": call_id})
            assert hidden.is_error and "not found" in error_text(hidden)

    anyio.run(over_stdio)


def test_without_a_key_the_mcp_endpoint_answers_401(local_stack: dict[str, Any]) -> None:
    response = requests.post(local_stack["mcp_url"], json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                             headers={"Accept": "application/json, text/event-stream"}, timeout=10)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
