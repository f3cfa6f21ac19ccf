"""The MCP ASGI app in-process (httpx's ASGI transport, the moto tables): campaign tools, resources, the
account each concurrent request acts for, and the schemas the tools publish."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError

from chalicelib.mcp_server.http_app import MCP_PATH, domain_server, http_app, transport_security
from chalicelib.mcp_server.tools_omnidim import CreateAssistant
from chalicelib.schemas.agents import AgentCreate
from tests.conftest import AGENT, TWILIO_SID
from tests.mcp.client import connected, error_text, resource_json, structured

BASE = "http://parley.test"
URL = BASE + MCP_PATH


@pytest.fixture()
def server(aws: None) -> MCPServer:
    return domain_server()


@pytest.fixture()
def accounts(aws: None) -> list[tuple[int, str]]:
    from chalicelib.domain.accounts import create_account

    return [(issued.account_id, issued.api_key) for issued in (create_account("a"), create_account("b"))]


@asynccontextmanager
async def serving(server: MCPServer, api_key: str) -> AsyncIterator[Client]:
    app = http_app(server, transport_security([BASE]))
    async with server.session_manager.run(), connected(URL, api_key, httpx2.ASGITransport(app=app)) as client:
        yield client


def test_bulk_call_tools_create_start_pause_resume_and_cancel(server: MCPServer,
                                                              accounts: list[tuple[int, str]]) -> None:
    from chalicelib.domain.phone_numbers import import_twilio
    from chalicelib.schemas.phone_numbers import TwilioImport

    (account_id, api_key), _ = accounts
    number = import_twilio(account_id, TwilioImport(phone_number="+14155550100", account_sid=TWILIO_SID,
                                                    account_token="9f" * 16)).id

    async def scenario() -> None:
        async with serving(server, api_key) as client:
            agent = structured(await client.call_tool("create_agent", AGENT))
            numbers = structured(await client.call_tool("list_phone_numbers", {}))["phone_numbers"]
            assert [n["id"] for n in numbers] == [number]
            created = structured(await client.call_tool("create_bulk_call", {
                "name": "reminders", "phone_number_id": number, "bot_id": agent["id"], "save_as_draft": True,
                "contact_list": [{"phone_number": "+14155550123", "name": "Ada"}]}))
            bulk = {"bulk_call_id": created["id"]}
            assert created["campaign_status"] == "draft"
            assert structured(await client.call_tool("start_bulk_call", bulk))["campaign_status"] == "in_progress"
            assert structured(await client.call_tool("pause_bulk_call", bulk))["campaign_status"] == "paused"
            again = await client.call_tool("pause_bulk_call", bulk)
            assert again.is_error and "is paused; cannot make it paused" in error_text(again)
            assert structured(await client.call_tool("resume_bulk_call", bulk))["campaign_status"] == "in_progress"
            live = structured(await client.call_tool("get_bulk_call_live_status", bulk))
            assert live["summary"]["total_contacts"] == 1
            assert structured(await client.call_tool("cancel_bulk_call", bulk))["campaign_status"] == "cancelled"
            listed = structured(await client.call_tool("list_bulk_calls", {"status": "cancelled"}))
            assert [b["id"] for b in listed["bulk_calls"]] == [created["id"]]
            agents = resource_json(await client.read_resource("parley://agents"))
            assert [a["id"] for a in agents["agents"]] == [agent["id"]]

    anyio.run(scenario)


def test_concurrent_requests_each_act_for_their_own_key(server: MCPServer, accounts: list[tuple[int, str]]) -> None:
    """One server, two accounts' requests interleaved: each sees only its own agents."""
    results: dict[str, list[str]] = {}

    async def create_and_list(api_key: str, name: str) -> None:
        async with serving_shared(api_key) as client:
            for i in range(3):
                structured(await client.call_tool("create_agent", {**AGENT, "name": f"{name}-{i}"}))
            listed = structured(await client.call_tool("list_agents", {}))
            results[name] = sorted(a["name"] for a in listed["agents"])

    app = http_app(server, transport_security([BASE]))

    @asynccontextmanager
    async def serving_shared(api_key: str) -> AsyncIterator[Client]:
        async with connected(URL, api_key, httpx2.ASGITransport(app=app)) as client:
            yield client

    async def scenario() -> None:
        async with server.session_manager.run(), anyio.create_task_group() as group:
            group.start_soon(create_and_list, accounts[0][1], "a")
            group.start_soon(create_and_list, accounts[1][1], "b")

    anyio.run(scenario)
    assert results == {"a": ["a-0", "a-1", "a-2"], "b": ["b-0", "b-1", "b-2"]}


def test_resources_of_another_account_are_not_found(server: MCPServer, accounts: list[tuple[int, str]]) -> None:
    from chalicelib.domain.agents import create_agent

    (owner, _), (_, stranger_key) = accounts
    agent_id = create_agent(owner, AgentCreate.model_validate(AGENT)).id

    async def scenario() -> None:
        async with serving(server, stranger_key) as client:
            with pytest.raises(MCPError, match=f"agent {agent_id} not found"):
                await client.read_resource(f"parley://agents/{agent_id}")
            with pytest.raises(MCPError, match="call_log_id must be a positive integer"):
                await client.read_resource("parley://calls/abc")

    anyio.run(scenario)


def test_create_assistant_takes_create_agents_fields_with_their_schemas() -> None:
    agent = AgentCreate.model_json_schema()
    assistant = CreateAssistant.model_json_schema()
    for name in ("name", "context_breakdown", "welcome_message"):
        assert assistant["properties"][name] == agent["properties"][name], name


def test_a_failing_key_lookup_is_a_503_to_retry_not_a_500() -> None:
    from chalicelib.mcp_server.auth import BearerAccount

    def broken(_key: str) -> int | None:
        raise RuntimeError("DynamoDB is down")

    async def inner(scope: object, receive: object, send: object) -> None:
        raise AssertionError("never reached")

    async def scenario() -> httpx2.Response:
        app = BearerAccount(inner, owner_of=broken)  # type: ignore[arg-type]  # a stand-in app that must not run
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=BASE) as http:
            return await http.post(MCP_PATH, json={}, headers={"Authorization": "Bearer pk_x"})

    response = anyio.run(scenario)
    assert response.status_code == 503 and response.json()["error"] == "unavailable"
    assert "DynamoDB" not in response.text
