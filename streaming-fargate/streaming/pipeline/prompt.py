"""The LLM's view of a call: the agent's instructions, the call's variables and the conversation."""
from __future__ import annotations

import re
from typing import Any

from chalicelib.domain.agent_settings import AgentSettings
from streaming.engines.base import ChatMessage
from streaming.pipeline.phrases import END_CALL_MARKER

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")
VOICE_RULES = ("You are speaking on a live phone call. Reply in one or two short spoken sentences. "
               "No lists, no markdown, no emojis. If the caller interrupts, take their new words into account.")


def fill_variables(text: str, variables: dict[str, Any]) -> str:
    """Replace ``{{name}}`` / ``{{a.b}}`` with call-context values; unknown names stay as written."""
    def value(match: re.Match[str]) -> str:
        current: Any = variables
        for part in match.group(1).split("."):
            if not isinstance(current, dict) or part not in current:
                return match.group(0)
            current = current[part]
        return str(current)
    return _VARIABLE.sub(value, text)


def system_prompt(agent: AgentSettings, call_context: dict[str, Any], tools: frozenset[str] = frozenset()) -> str:
    """The agent's instructions. ``tools`` names the tools the LLM is given (``pipeline.tool_calls``): with the
    ``end_call`` tool the agent hangs up by calling it, else by the ``[END_CALL]`` marker."""
    blocks = [VOICE_RULES]
    for block in agent.context_breakdown:
        if block.is_enabled:
            blocks.append(f"## {block.title}\n{fill_variables(block.body, call_context)}")
    if call_context:
        facts = "\n".join(f"- {key}: {value}" for key, value in call_context.items())
        blocks.append(f"## Call context\n{facts}")
    if "web_search" in tools:
        blocks.append("## Web search\nFor a fact your instructions do not give, call web_search with a short query "
                      "and answer from its results in one or two sentences.")
    if agent.agent_ends_calls and "end_call" in tools:
        blocks.append(f"## Ending the call\nWhen {agent.end_call_condition}, say a short goodbye and call end_call.")
    elif agent.agent_ends_calls:
        blocks.append(f"## Ending the call\nWhen {agent.end_call_condition}, say a short goodbye and end your "
                      f"reply with {END_CALL_MARKER}.")
    return "\n\n".join(blocks)


def messages_for(agent: AgentSettings, call_context: dict[str, Any], history: list[ChatMessage],
                 tools: frozenset[str] = frozenset()) -> list[ChatMessage]:
    return [ChatMessage("system", system_prompt(agent, call_context, tools)), *history]
