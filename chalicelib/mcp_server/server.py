"""The MCP server: every tool and resource, run against the backend of the request being served."""
from __future__ import annotations

from collections.abc import Callable

from mcp.server.mcpserver import MCPServer

from chalicelib.mcp_server import tools_agents, tools_calls, tools_campaigns, tools_numbers, tools_omnidim
from chalicelib.mcp_server.backend import Backend
from chalicelib.mcp_server.resources import register_resources
from chalicelib.mcp_server.tooling import ToolSpec, build_tool

NAME = "parley"
INSTRUCTIONS = (
    "Parley runs voice AI agents that make and answer phone calls. Create an agent (create_agent), place a call "
    "with it (dispatch_call; you need one of your numbers, see list_phone_numbers), then read the call's "
    "transcript, summary and sentiment with get_call_log. Bulk calls call a list of contacts."
)

SPECS: tuple[ToolSpec, ...] = (
    *tools_agents.TOOLS, *tools_calls.TOOLS, *tools_campaigns.TOOLS, *tools_numbers.TOOLS, *tools_omnidim.TOOLS,
)


def build_server(backend: Callable[[], Backend]) -> MCPServer:
    """``backend()`` is called once per tool call or resource read, in the request's context."""
    server: MCPServer = MCPServer(
        NAME, title="Parley", instructions=INSTRUCTIONS,
        tools=[build_tool(spec, backend) for spec in SPECS], log_level="WARNING",
    )
    register_resources(server, backend)
    return server
