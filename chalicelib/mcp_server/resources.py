"""Resources: agents and call logs as JSON documents (``parley://agents/{agent_id}``,
``parley://calls/{call_log_id}``, and the newest of each at ``parley://agents`` and ``parley://calls``)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from pydantic import BaseModel

from chalicelib.mcp_server.backend import Backend, ToolFailure
from chalicelib.mcp_server.tooling import MAX_ID
from chalicelib.schemas.calls import LogsQuery
from chalicelib.schemas.common import Page

JSON = "application/json"
NEWEST = 50


@contextmanager
def _read() -> Iterator[None]:
    try:
        yield
    except ToolFailure as failure:
        if failure.code == "not_found":
            raise ResourceNotFoundError(failure.description) from None
        raise ResourceError(failure.description) from None


def _id(name: str, value: str) -> int:
    if not value.isascii() or not value.isdigit() or len(value) > 16 or not 1 <= int(value) <= MAX_ID:
        raise ResourceNotFoundError(f"{name} must be a positive integer")
    return int(value)


def _json(model: BaseModel) -> str:
    return model.model_dump_json(indent=2)


def register_resources(server: MCPServer, backend: Callable[[], Backend]) -> None:
    @server.resource("parley://agents", name="agents", title="Agents", mime_type=JSON,
                     description=f"Your {NEWEST} newest voice agents with their settings.")
    def agents() -> str:
        with _read():
            return _json(backend().list_agents(Page(pageno=1, pagesize=NEWEST)))

    @server.resource("parley://agents/{agent_id}", name="agent", title="Agent", mime_type=JSON,
                     description="One voice agent with all its settings.")
    def agent(agent_id: str) -> str:
        with _read():
            return _json(backend().get_agent(_id("agent_id", agent_id)))

    @server.resource("parley://calls", name="call_logs", title="Call logs", mime_type=JSON,
                     description=f"Your {NEWEST} newest calls.")
    def calls() -> str:
        with _read():
            return _json(backend().list_call_logs(LogsQuery(pageno=1, pagesize=NEWEST)))

    @server.resource("parley://calls/{call_log_id}", name="call_log", title="Call log", mime_type=JSON,
                     description="One call: status, transcript, recording URL, summary, sentiment and extracted "
                                 "variables.")
    def call(call_log_id: str) -> str:
        with _read():
            return _json(backend().get_call_log(_id("call_log_id", call_log_id)))
