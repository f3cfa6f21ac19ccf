"""Agent tools: list, get, create, update (the ``/agents`` routes)."""
from __future__ import annotations

from chalicelib.mcp_server.tooling import NoBody, ToolSpec
from chalicelib.schemas.agents import AgentCreate, AgentList, AgentOut, AgentUpdate
from chalicelib.schemas.common import Page

TOOLS: list[ToolSpec] = [
    ToolSpec(
        name="list_agents", title="List agents",
        description="List your voice agents, newest first (pageno/pagesize paging). Each agent has its id, name, "
                    "prompt sections (context_breakdown), welcome message and voice/model settings.",
        body=Page, result=AgentList, read_only=True,
        run=lambda backend, call: backend.list_agents(call.body),
    ),
    ToolSpec(
        name="get_agent", title="Get an agent",
        description="Get one voice agent by its id, with all its settings.",
        body=NoBody, ids=("agent_id",), result=AgentOut, read_only=True,
        run=lambda backend, call: backend.get_agent(call.ids["agent_id"]),
    ),
    ToolSpec(
        name="create_agent", title="Create an agent",
        description="Create a voice agent. Required: name and context_breakdown (the prompt, as sections "
                    "{title, body}); optional: welcome_message (what it says first), transcriber, model, voice, "
                    "end_call and the other settings of POST /agents/create. Returns the agent with its id.",
        body=AgentCreate, result=AgentOut,
        run=lambda backend, call: backend.create_agent(call.body),
    ),
    ToolSpec(
        name="update_agent", title="Update an agent",
        description="Change an agent's settings: the fields given replace the stored ones, fields left out keep "
                    "their value, an optional field sent as null is cleared. Returns the updated agent.",
        body=AgentUpdate, ids=("agent_id",), result=AgentOut,
        run=lambda backend, call: backend.update_agent(call.ids["agent_id"], call.body),
    ),
]
