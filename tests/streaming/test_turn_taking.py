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


def converse(recorder: RecordingLifecycle, caller_audio: bytes, prompts: list[list[ChatMessage]], *,
             stt: type | None = None, call_id: int = 81, think_s: float = 0.0,
             prefilled: list[str] | None = None) -> None:
    """One call through the Twilio protocol: the caller's audio, then until the reply has played. The LLM notes
    each prompt (and each prefill's last user message in ``prefilled``), and takes ``think_s`` before it writes."""
    class Listening(InstantLlm):
        async def stream(self, messages: list[ChatMessage], options: LlmOptions) -> AsyncIterator[str]:
            prompts.append(list(messages))
            await asyncio.sleep(think_s)
            async for token in super().stream(messages, options):
                yield token

        async def prefill(self, messages: list[ChatMessage]) -> None:
            if prefilled is not None and messages[-1].role == "user":
                prefilled.append(messages[-1].content)

    async def scenario() -> None:
        registry = EngineRegistry()
        registry.register("stt", "instant", stt or BatchStt)
        registry.register("llm", "instant", Listening)
        async with running_server(recorder, registry=registry) as (url, _app), aiohttp.ClientSession() as http:
            side = await TwilioSide.open(http, url, call_id=call_id)
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


class WordPerFifthOfASecond:
    """A batch transcriber that hears one word per 200 ms of audio fed: a partial transcript is a prefix of the
    final one, as a real one's mostly is."""

    name = "counting"
    sample_rate = 16000
    streaming = False
    words = ["could", "you", "tell", "me", "what", "time", "the", "bakery", "opens", "on", "saturday", "morning",
             "please"]

    def open(self, language: str = "en-US") -> Any:
        engine = self

        class Stream:
            fed = 0

            def feed(self, pcm16: bytes) -> None:
                self.fed += len(pcm16)

            async def transcript(self) -> str:
                return " ".join(engine.words[: self.fed // (2 * engine.sample_rate // 5)])

            async def close(self) -> None:
                return None

        return Stream()


def test_while_the_caller_speaks_the_llm_is_prefilled_with_their_words_so_far() -> None:
    recorder = RecordingLifecycle()
    prefilled: list[str] = []
    prompts: list[list[ChatMessage]] = []
    converse(recorder, quiet(0.2) + tone(2.2) + quiet(0.9), prompts, stt=WordPerFifthOfASecond, call_id=82,
             prefilled=prefilled)
    [(_, result)] = recorder.finalized
    final = result.transcript[0]["text"]
    partials = [text for text in prefilled if text]  # "" is the prefill when the caller started talking
    assert [prompt[-1].content for prompt in prompts] == [final]
    assert len(partials) >= 2 and all(final.startswith(text) and text != final for text in partials)
    assert partials == sorted(partials, key=len)  # every 640 ms of speech, each longer than the last


def test_words_after_a_turn_that_ended_in_a_pause_join_it_when_no_reply_was_heard_between() -> None:
    """The silence timeout ends the caller's turn in a pause; they go on before the (slow) reply plays: the
    reply is dropped, both parts are answered together, and the transcript keeps one caller turn."""
    recorder = RecordingLifecycle()
    prompts: list[list[ChatMessage]] = []
    converse(recorder, quiet(0.2) + tone(0.5) + quiet(0.7) + tone(0.5) + quiet(2.0), prompts, call_id=83,
             think_s=1.0)  # longer than the pause: no reply can play in it
    [(_, result)] = recorder.finalized
    said = "I would like to book an appointment for tomorrow morning."
    assert [t["role"] for t in result.transcript] == ["user", "agent"]
    assert result.transcript[0]["text"] == f"{said} {said}"
    assert len(result.turn_metrics) == 2  # the service ended two caller turns; the first reply never played
    assert [m.role for m in prompts[-1][-2:]] == ["user", "user"]  # the LLM answers both parts (its engine joins
    assert [m.content for m in prompts[-1][-2:]] == [said, said]   # consecutive turns of one role)
