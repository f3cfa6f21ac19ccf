"""Fillers (the agent's ``filler``): a slow reply is preceded by a short filler, a fast one is not; the caller
hears the filler, then the reply without a gap, and the metrics keep the reply's own first audio apart."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp

from streaming.engines.base import ChatMessage, LlmOptions
from streaming.engines.instant import InstantLlm
from streaming.engines.registry import EngineRegistry
from streaming.pipeline.filler import PHRASES
from tests.streaming.harness import RecordingLifecycle, TwilioSide, quiet, running_server, tone

SLOW_FIRST_TOKEN_S = 1.2
REPLY = "Sure, I can help you with that. What time suits you best?"


class SlowLlm(InstantLlm):
    """The instant engine, with a first token that takes SLOW_FIRST_TOKEN_S (a cold or busy model)."""

    async def stream(self, messages: list[ChatMessage], options: LlmOptions) -> AsyncIterator[str]:
        await asyncio.sleep(SLOW_FIRST_TOKEN_S)
        async for token in super().stream(messages, options):
            yield token


def converse(filler: dict, llm: type[InstantLlm], phrases: int) -> RecordingLifecycle:
    """One caller turn; returns once the agent's reply (``phrases`` marks) was heard and the call ended."""
    recorder = RecordingLifecycle(agent_config={"welcome_message": "Hello there.", "filler": filler})
    registry = EngineRegistry()
    registry.register("llm", "instant", llm)

    async def scenario() -> None:
        async with running_server(recorder, registry=registry) as (url, _app), aiohttp.ClientSession() as http:
            side = await TwilioSide.open(http, url, call_id=21)
            await side.wait_for(lambda: side.events("mark"))  # the welcome message played
            marks = len(side.events("mark"))
            await side.audio(quiet(0.3) + tone(0.6) + quiet(0.8), realtime=True)
            await side.wait_for(lambda: len(side.events("mark")) >= marks + phrases, timeout=20)
            await side.stop()
            await side.closed()
            await side.wait_for(lambda: recorder.finalized)

    asyncio.run(asyncio.wait_for(scenario(), 60))
    return recorder


def test_a_reply_slower_than_after_sec_is_preceded_by_a_filler() -> None:
    recorder = converse({"enabled": True, "after_sec": 0.3}, SlowLlm, phrases=4)  # the filler, then 3
    [(_call_id, result)] = recorder.finalized
    agent_turn = result.transcript[2]
    assert agent_turn["role"] == "agent"
    assert any(agent_turn["text"].startswith(phrase) for phrase in PHRASES), agent_turn
    assert agent_turn["text"].endswith(REPLY), agent_turn
    [metrics] = result.turn_metrics
    # The filler went out about after_sec after the end of the turn; the reply's own audio after the slow model.
    assert metrics["end_of_turn_ms"] + 250 <= metrics["filler_out_ms"] <= metrics["end_of_turn_ms"] + 600, metrics
    assert metrics["first_audio_out_ms"] >= metrics["end_of_turn_ms"] + 1000 * SLOW_FIRST_TOKEN_S - 50, metrics


def test_a_reply_faster_than_after_sec_gets_no_filler() -> None:
    recorder = converse({"enabled": True, "after_sec": 1.0}, InstantLlm, phrases=3)
    [(_call_id, result)] = recorder.finalized
    assert result.transcript[2]["text"] == REPLY
    [metrics] = result.turn_metrics
    assert metrics["filler_out_ms"] is None and metrics["first_audio_out_ms"] is not None


def test_turn_metrics_with_a_filler_fit_the_call_log_schema() -> None:
    from chalicelib.schemas.calls import TurnMetric
    from streaming.pipeline.metrics import TurnMetrics

    metrics = TurnMetrics(turn=1, end_of_speech=10.0, end_of_turn=10.5, filler_out=11.0, first_audio_out=12.0)
    logged = TurnMetric.model_validate(metrics.to_json())
    assert (logged.filler_out_ms, logged.first_audio_out_ms) == (1000.0, 2000.0)
