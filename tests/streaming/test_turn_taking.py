"""Turn taking with a batch transcriber (Whisper's kind): the reply is drafted at the caller's pause, held,
and released at the end of the turn; speech resuming before the silence timeout drops the draft."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import aiohttp

from streaming.engines.base import ChatMessage, LlmOptions
from streaming.engines.instant import InstantLlm, InstantStt
from streaming.engines.registry import EngineRegistry
from tests.streaming.harness import RecordingLifecycle, TwilioSide, quiet, running_server, tone


class BatchStt(InstantStt):
    streaming = False  # transcribes on demand, so the session drafts replies at pauses


def run(coro: Coroutine[Any, Any, None]) -> None:
    return asyncio.run(asyncio.wait_for(coro, 60))


def converse(recorder: RecordingLifecycle, caller_audio: bytes, prompts: list[list[ChatMessage]]) -> None:
    class Listening(InstantLlm):
        async def stream(self, messages: list[ChatMessage], options: LlmOptions) -> AsyncIterator[str]:
            prompts.append(list(messages))
            async for token in super().stream(messages, options):
                yield token

    async def scenario() -> None:
        registry = EngineRegistry()
        registry.register("stt", "instant", BatchStt)
        registry.register("llm", "instant", Listening)
        async with running_server(recorder, registry=registry) as (url, _app), aiohttp.ClientSession() as http:
            side = await TwilioSide.open(http, url, call_id=81)
            await side.audio(caller_audio, realtime=True)
            await side.wait_for(lambda: len(side.events("mark")) >= 2)  # the reply played
            await side.stop()
            await side.closed()
            await side.wait_for(lambda: recorder.finalized)

    run(scenario())


def test_a_batch_transcriber_drafts_the_reply_at_the_pause_and_plays_it_after_the_end_of_turn() -> None:
    recorder = RecordingLifecycle()
    prompts: list[list[ChatMessage]] = []
    converse(recorder, quiet(0.2) + tone(0.6) + quiet(0.9), prompts)
    [(_, result)] = recorder.finalized
    assert [t["role"] for t in result.transcript] == ["user", "agent"]
    [metrics] = result.turn_metrics
    assert metrics["speculative"] is True
    assert metrics["stt_started_ms"] < metrics["end_of_turn_ms"] <= metrics["first_audio_out_ms"]
    assert len(prompts) == 1 and prompts[0][-1] == ChatMessage("user", result.transcript[0]["text"])


def test_speech_resuming_after_a_pause_drops_the_draft_and_the_turn_is_answered_once() -> None:
    recorder = RecordingLifecycle()
    prompts: list[list[ChatMessage]] = []
    converse(recorder, quiet(0.2) + tone(0.5) + quiet(0.25) + tone(0.5) + quiet(0.9), prompts)
    [(_, result)] = recorder.finalized
    assert [t["role"] for t in result.transcript] == ["user", "agent"]
    assert result.transcript[0]["text"] == "I would like to book an appointment for tomorrow morning."
    [metrics] = result.turn_metrics
    assert metrics["turn"] == 1 and metrics["speculative"] is True
