"""OmniDimension's MCP tool names, so assistants set up for OmniDimension's MCP server work unchanged:
``create_assistant`` (``name``, ``context_breakdown``, ``welcome_message``) and ``dispatch_a_call``
(``assistant_id``, ``to_number``, ``call_context``). Each is ``create_agent`` / ``dispatch_call`` with those
parameter names; the fields have the REST schemas' types, so they validate the same way."""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from chalicelib.domain.agent_settings import ContextBlock
from chalicelib.mcp_server.tooling import ToolSpec
from chalicelib.schemas.agents import AgentCreate, AgentOut
from chalicelib.schemas.calls import Dispatch, Dispatched
from chalicelib.schemas.common import E164, Id, ShortText, Strict


class CreateAssistant(Strict):
    name: ShortText
    context_breakdown: Annotated[list[ContextBlock], Field(min_length=1, max_length=50)]
    welcome_message: Annotated[str, Field(max_length=2000)] | None = None

    def as_agent(self) -> AgentCreate:
        return AgentCreate.model_validate(self.model_dump(exclude_unset=True))


class DispatchACall(Strict):
    assistant_id: Id
    to_number: E164
    call_context: dict[str, Any] = Field(
        default_factory=dict, description="Variables for this call, e.g. {\"customer_name\": \"Ada\"}.")

    def as_dispatch(self) -> Dispatch:
        return Dispatch(agent_id=self.assistant_id, to_number=self.to_number, call_context=self.call_context)


TOOLS: list[ToolSpec] = [
    ToolSpec(
        name="create_assistant", title="Create an assistant (OmniDimension name)",
        description="Create a voice agent (the same as create_agent, with OmniDimension's parameters): name, "
                    "context_breakdown (the prompt, as sections {title, body}) and welcome_message. Returns the "
                    "agent; its id is the assistant_id of dispatch_a_call.",
        body=CreateAssistant, result=AgentOut,
        run=lambda backend, call: backend.create_agent(call.body.as_agent()),
    ),
    ToolSpec(
        name="dispatch_a_call", title="Dispatch a call (OmniDimension name)",
        description="Have an assistant (agent) phone someone now (the same as dispatch_call, with OmniDimension's "
                    "parameters): assistant_id, to_number (E.164, e.g. +14155550123) and call_context (variables "
                    "for this call). Returns call_id: follow the call with get_call_log.",
        body=DispatchACall, result=Dispatched, open_world=True,
        run=lambda backend, call: backend.dispatch_call(call.body.as_dispatch()),
    ),
]
