"""The MCP server over streamable HTTP at /api/v1/mcp, served as the local stack and API Gateway serve it
(the Lambda handler behind the gateway stand-in), driven with the MCP SDK's own client."""
from __future__ import annotations

import anyio
import requests

from tests.conftest import AGENT, TWILIO_SID, Tenant
from tests.mcp.client import connected, error_text, resource_json, structured, wait_for_end


def _mcp(tenant: Tenant) -> str:
    return tenant.url("mcp")


def _number(tenant: Tenant) -> int:
    response = tenant.post("phone_number/import/twilio", json={
        "phone_number": "+14155550100", "account_sid": TWILIO_SID, "account_token": "9f" * 16})
    assert response.status_code == 201, response.text
    return int(response.json()["phone_number"]["id"])


def test_tools_are_listed_with_typed_schemas_and_omnidimensions_names(tenant: Tenant) -> None:
    async def scenario() -> None:
        async with connected(_mcp(tenant), tenant.api_key) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert {"list_agents", "get_agent", "create_agent", "update_agent", "dispatch_call", "list_call_logs",
                "get_call_log", "create_bulk_call", "start_bulk_call", "pause_bulk_call", "resume_bulk_call",
                "cancel_bulk_call", "get_bulk_call_live_status", "list_phone_numbers", "create_assistant",
                "dispatch_a_call"} <= set(tools)
        assert set(tools["create_assistant"].input_schema["properties"]) == {"name", "context_breakdown",
                                                                             "welcome_message"}
        assert set(tools["dispatch_a_call"].input_schema["properties"]) == {"assistant_id", "to_number",
                                                                            "call_context"}
        assert tools["dispatch_call"].input_schema["required"] == ["agent_id", "to_number"]
        assert tools["get_call_log"].output_schema is not None
        assert all(tool.description for tool in tools.values())

    anyio.run(scenario)


def test_an_agent_made_with_create_assistant_dispatches_a_call_whose_log_is_read_back(
        tenant: Tenant, other_tenant: Tenant) -> None:
    number = _number(tenant)

    async def scenario() -> None:
        async with connected(_mcp(tenant), tenant.api_key) as client:
            agent = structured(await client.call_tool("create_assistant", {
                "name": "Front desk", "context_breakdown": AGENT["context_breakdown"],
                "welcome_message": "Hello!"}))
            assert agent["welcome_message"] == "Hello!"
            dispatched = structured(await client.call_tool("dispatch_a_call", {
                "assistant_id": agent["id"], "to_number": "+14155550123", "call_context": {"customer_name": "Ada"}}))
            call_id = dispatched["call_id"]
            log = await wait_for_end(client, call_id, timeout_s=30)
            assert log["call_status"] == "completed" and log["from_number_id"] == number
            assert log["call_context"] == {"customer_name": "Ada"}
            listed = structured(await client.call_tool("list_call_logs", {"agentid": agent["id"]}))
            assert [c["id"] for c in listed["call_log_data"]] == [call_id]
            assert resource_json(await client.read_resource(f"parley://calls/{call_id}"))["id"] == call_id
            assert resource_json(await client.read_resource(f"parley://agents/{agent['id']}"))["name"] == "Front desk"

        async with connected(_mcp(other_tenant), other_tenant.api_key) as other:
            refused = await other.call_tool("get_call_log", {"call_log_id": call_id})
            assert refused.is_error and "not found" in error_text(refused)
            assert structured(await other.call_tool("list_call_logs", {}))["call_log_data"] == []
            assert structured(await other.call_tool("list_agents", {}))["agents"] == []

    anyio.run(scenario)


def test_bad_arguments_are_tool_errors_worded_as_the_rest_api_words_them(tenant: Tenant) -> None:
    rest = tenant.post("calls/dispatch", json={"agent_id": 1, "to_number": "not-a-number"}).json()

    async def scenario() -> None:
        async with connected(_mcp(tenant), tenant.api_key) as client:
            bad_number = await client.call_tool("dispatch_call", {"agent_id": 1, "to_number": "not-a-number"})
            missing = await client.call_tool("create_agent", {"name": "No prompt"})
            unknown = await client.call_tool("get_agent", {"agent_id": 7, "colour": "blue"})
            bad_id = await client.call_tool("get_agent", {"agent_id": "seven"})
            no_agent = await client.call_tool("dispatch_call", {"agent_id": 424242, "to_number": "+14155550123"})
            no_such_tool = await client.call_tool("delete_everything", {})
            # The server is still fine after all of them.
            assert structured(await client.call_tool("list_agents", {}))["agents"] == []
        assert bad_number.is_error and rest["error_description"] in error_text(bad_number)
        assert missing.is_error and "context_breakdown: field required" in error_text(missing)
        assert unknown.is_error and "colour: unknown field" in error_text(unknown)
        assert bad_id.is_error and "agent_id must be a positive integer" in error_text(bad_id)
        assert no_agent.is_error and "agent 424242 not found" in error_text(no_agent)
        assert no_such_tool.is_error
        assert "Traceback" not in error_text(bad_number) + error_text(no_agent)

    anyio.run(scenario)


def test_without_a_valid_key_the_answer_is_401_json(tenant: Tenant) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream"}
    for auth in ({}, {"Authorization": "Bearer pk_not_a_key"}, {"Authorization": "Basic abc"}):
        response = requests.post(_mcp(tenant), json=body, headers={**headers, **auth}, timeout=10)
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized" and "Bearer" in response.json()["error_description"]


def test_dns_rebinding_protection_refuses_other_hosts_and_origins(tenant: Tenant) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {tenant.api_key}"}
    evil_host = requests.post(_mcp(tenant), json=body, headers={**headers, "Host": "evil.example"}, timeout=10)
    evil_origin = requests.post(_mcp(tenant), json=body, headers={**headers, "Origin": "http://evil.example"},
                                timeout=10)
    assert evil_host.status_code == 421
    assert evil_origin.status_code == 403
    assert requests.post(_mcp(tenant), json=body, headers=headers, timeout=10).status_code == 200
