"""The streaming service reads an agent's stored config through the domain's typed ``AgentSettings``: the same
sections the API validates with, one set of defaults, and stored configs of older agents still load."""
from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain import agent_settings
from chalicelib.domain.agent_settings import AgentSettings
from chalicelib.schemas.agents import AgentCreate, LlmModel, Transcriber
from streaming import engine_choice
from streaming.engines.registry import EngineRegistry
from streaming.pipeline.prompt import system_prompt
from streaming.settings import StreamingSettings

FULL_AGENT = {
    "name": "Front desk",
    "context_breakdown": [{"title": "Role", "body": "Book visits for {{customer}}."},
                          {"title": "Hidden", "body": "Never said.", "is_enabled": False}],
    "welcome_message": "Hello {{customer}}.",
    "is_interruption_allowed": False,
    "transcriber": {"provider": "whisper", "silence_timeout_ms": 800, "language": "en-GB"},
    "model": {"model": "anthropic.claude-3-haiku", "temperature": 0.0, "max_tokens": 64},
    "voice": {"provider": "piper", "voice_id": "en_US-joe-medium", "speech_speed": 1.25},
    "end_call": {"enabled": True, "condition": "the visit is booked"},
}


def stored(body: dict) -> dict:
    """What the API stores as ``Agent.config`` for a create body (as ``domain.agents.create_agent`` does)."""
    return AgentCreate.model_validate(body).model_dump(exclude={"name", "post_call_actions"}, exclude_none=True)


def test_the_api_and_the_streaming_service_share_one_model_of_the_sections() -> None:
    assert Transcriber is agent_settings.Transcriber and LlmModel is agent_settings.LlmModel
    assert set(AgentSettings.model_fields) == set(AgentCreate.model_fields) - {"name", "post_call_actions"}


def test_what_the_api_stores_is_read_back_with_the_agents_choices() -> None:
    agent = AgentSettings.from_stored(stored(FULL_AGENT))
    assert (agent.silence_timeout_ms, agent.language, agent.stt_provider) == (800, "en-GB", "whisper")
    assert (agent.temperature, agent.max_tokens) == (0.0, 64)  # 0.0 is a choice, not "unset"
    assert (agent.tts_provider, agent.voice_id, agent.speech_speed) == ("piper", "en_US-joe-medium", 1.25)
    assert agent.interruptions is False and agent.welcome_interruptible is False
    prompt = system_prompt(agent, {"customer": "Ada"})
    assert "Book visits for Ada." in prompt and "Never said." not in prompt
    assert "When the visit is booked, say a short goodbye" in prompt


def test_an_agent_without_settings_gets_the_defaults() -> None:
    agent = AgentSettings.from_stored(stored({"name": "Bare", "context_breakdown": [{"title": "Role", "body": "Hi"}]}))
    assert agent.silence_timeout_ms == agent_settings.DEFAULT_SILENCE_TIMEOUT_MS == 500
    assert (agent.temperature, agent.max_tokens, agent.language, agent.speech_speed) == (0.7, 160, "en-US", 1.0)
    assert agent.interruptions is True and agent.welcome_interruptible is True
    assert agent.stt_provider is None and agent.llm_name is None and agent.voice_id is None
    assert not agent.agent_ends_calls and "## Ending the call" not in system_prompt(agent, {})


def test_the_welcome_message_follows_the_interruption_setting_unless_it_has_its_own() -> None:
    assert AgentSettings.from_stored({"is_interruption_allowed": False}).welcome_interruptible is False
    assert AgentSettings.from_stored({"is_interruption_allowed": False,
                                      "is_welcome_message_interruption": True}).welcome_interruptible is True


def test_an_older_stored_config_with_unknown_or_invalid_fields_still_loads() -> None:
    config: dict[str, Any] = {
        "context_breakdown": [{"title": "Role", "body": "Book visits."}, {"body": "a block without a title"}],
        "transcriber": {"provider": "whisper", "silence_timeout_ms": 50, "endpointing": "fast"},
        "model": {"temperature": 1, "max_tokens": "96"},  # stored loosely typed: read leniently
        "voice": "joe",  # a section that is not an object
        "retired_setting": {"anything": True},
    }
    agent = AgentSettings.from_stored(config)
    assert [block.title for block in agent.context_breakdown] == ["Role"]
    assert agent.stt_provider == "whisper" and agent.silence_timeout_ms == 500  # 50 ms is out of range: default
    assert (agent.temperature, agent.max_tokens) == (1.0, 96)
    assert agent.voice is None
    assert config["transcriber"]["endpointing"] == "fast"  # the caller's dict is left as it was


def test_a_bedrock_model_id_chooses_the_bedrock_engine_and_asks_it_for_that_model() -> None:
    agent = AgentSettings.from_stored(stored(FULL_AGENT))
    choice = engine_choice.choose(agent, EngineRegistry(), StreamingSettings())
    assert choice.llm == "bedrock" and choice.llm_model == "anthropic.claude-3-haiku"
    plain = engine_choice.choose(AgentSettings(), EngineRegistry(), StreamingSettings())
    assert plain.llm == StreamingSettings().llm_default and plain.llm_model is None


def test_unreadable_fields_are_named_in_a_warning_without_their_values(caplog: pytest.LogCaptureFixture) -> None:
    AgentSettings.from_stored({"transcriber": {"silence_timeout_ms": 5}, "secret_thing": "s3cr3t"})
    [record] = [r for r in caplog.records if "stored fields ignored" in r.getMessage()]
    assert record.fields == ["secret_thing", "transcriber.silence_timeout_ms"]  # type: ignore[attr-defined]
    assert "s3cr3t" not in repr(vars(record))
