"""The LLM's view of a call: the agent's instructions, the call's variables and the conversation."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from streaming.engines.base import ChatMessage
from streaming.pipeline.phrases import END_CALL_MARKER

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")
VOICE_RULES = ("You are speaking on a live phone call. Reply in one or two short spoken sentences. "
               "No lists, no markdown, no emojis. If the caller interrupts, take their new words into account.")


@dataclass
class AgentProfile:
    """What the pipeline needs from an agent's configuration (``Agent.config``)."""

    name: str = "Agent"
    context_breakdown: list[dict[str, Any]] = field(default_factory=list)
    welcome_message: str | None = None
    interruptions: bool = True
    welcome_interruptible: bool = True
    silence_timeout_ms: int | None = None
    stt: str | None = None
    language: str = "en-US"
    llm: str | None = None
    llm_model: str | None = None
    temperature: float = 0.7
    max_tokens: int = 160
    tts: str | None = None
    voice_id: str | None = None
    speech_speed: float = 1.0
    end_call_enabled: bool = False
    end_call_condition: str | None = None
    end_call_message: str | None = None

    @classmethod
    def from_config(cls, name: str, config: dict[str, Any]) -> AgentProfile:
        transcriber = config.get("transcriber") or {}
        model = config.get("model") or {}
        voice = config.get("voice") or {}
        end_call = config.get("end_call") or {}
        interruptions = config.get("is_interruption_allowed")
        welcome_interruption = config.get("is_welcome_message_interruption")
        return cls(
            name=name,
            context_breakdown=list(config.get("context_breakdown") or []),
            welcome_message=config.get("welcome_message"),
            interruptions=True if interruptions is None else bool(interruptions),
            welcome_interruptible=(True if interruptions is None else bool(interruptions))
            if welcome_interruption is None else bool(welcome_interruption),
            silence_timeout_ms=transcriber.get("silence_timeout_ms"),
            stt=transcriber.get("provider"),
            language=transcriber.get("language") or "en-US",
            llm=model.get("model"),
            temperature=model.get("temperature") if model.get("temperature") is not None else 0.7,
            max_tokens=model.get("max_tokens") or 160,
            tts=voice.get("provider"),
            voice_id=voice.get("voice_id"),
            speech_speed=voice.get("speech_speed") or 1.0,
            end_call_enabled=bool(end_call.get("enabled")),
            end_call_condition=end_call.get("condition"),
            end_call_message=end_call.get("message"),
        )


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


def system_prompt(agent: AgentProfile, call_context: dict[str, Any]) -> str:
    blocks = [VOICE_RULES]
    for block in agent.context_breakdown:
        if block.get("is_enabled", True):
            blocks.append(f"## {block.get('title', '')}\n{fill_variables(str(block.get('body', '')), call_context)}")
    if call_context:
        facts = "\n".join(f"- {key}: {value}" for key, value in call_context.items())
        blocks.append(f"## Call context\n{facts}")
    if agent.end_call_enabled:
        condition = agent.end_call_condition or "the conversation is finished or the caller says goodbye"
        blocks.append(f"## Ending the call\nWhen {condition}, say a short goodbye and end your reply with "
                      f"{END_CALL_MARKER}.")
    return "\n\n".join(blocks)


def messages_for(agent: AgentProfile, call_context: dict[str, Any], history: list[ChatMessage]) -> list[ChatMessage]:
    return [ChatMessage("system", system_prompt(agent, call_context)), *history]
