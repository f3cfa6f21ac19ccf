"""Reply generation: LLM tokens -> speakable phrases -> TTS audio, streamed into an utterance as it comes.

TTS starts on the first phrase while the LLM is still writing the rest; each phrase's audio goes to the
utterance chunk by chunk, so the output can play it before the phrase is complete.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.domain.agent_settings import AgentSettings
from streaming.engines.base import ChatMessage, LlmEngine, LlmOptions, SttStream, ToolLlm, ToolSpec, TtsEngine
from streaming.pipeline.metrics import TurnMetrics
from streaming.pipeline.output import Phrase, Utterance
from streaming.pipeline.phrases import PhraseSplitter
from streaming.pipeline.prompt import messages_for


@dataclass(eq=False)
class AgentReply:
    """The agent's answer to one caller turn (or to keypad digits): the caller's words, then the agent's audio."""

    metrics: TurnMetrics
    utterance: Utterance
    stt: SttStream | None
    user_started_at: float
    user_text: str | None = None
    committed: bool = False  # the user turn is in the conversation
    task: asyncio.Task[None] | None = None
    source: str = "speech"
    heard: asyncio.Event = field(default_factory=asyncio.Event)  # set once ``user_text`` is known (or never will be)

    def engine_time(self, stage: str, started: float, ended: float) -> None:
        self.metrics.engine_s[stage] = self.metrics.engine_s.get(stage, 0.0) + (ended - started)


class ReplyTools(Protocol):
    """The LLM's tools during a call (``pipeline.tool_calls.CallTools``), as the reply generator uses them."""

    specs: list[ToolSpec]

    @property
    def names(self) -> set[str]: ...

    def run(self, reply: AgentReply, llm: ToolLlm, messages: list[ChatMessage],
            options: LlmOptions) -> AsyncIterator[str | Phrase]:
        """The reply's text pieces and ready phrases (a tool's filler), in speaking order."""
        ...


class ReplyGenerator:
    """Writes the agent's replies with the LLM and speaks them (and fixed texts) with TTS."""

    def __init__(self, agent: AgentSettings, call_context: dict[str, Any], llm: LlmEngine, tts: TtsEngine,
                 llm_model: str | None = None, tools: ReplyTools | None = None) -> None:
        self.agent = agent
        self.tools = tools  # the LLM's tools this call (``pipeline.tool_calls``); None: plain text replies
        self.call_context = call_context
        self.llm = llm
        self.tts = tts
        self.options = LlmOptions(temperature=agent.temperature, max_tokens=agent.max_tokens, model=llm_model)

    def prompt(self, history: list[ChatMessage]) -> list[ChatMessage]:
        """What the LLM is given: the agent's instructions, the call's variables, then ``history``."""
        return messages_for(self.agent, self.call_context, history,
                            frozenset(self.tools.names) if self.tools is not None else frozenset())

    def prefill(self, history: list[ChatMessage]) -> Awaitable[None] | None:
        """Have the LLM evaluate the prompt for ``history`` ahead of a reply, rendered as the reply will be (with
        the call's tools); None when the engine cannot (``prefill`` / ``prefill_with_tools``)."""
        with_tools = getattr(self.llm, "prefill_with_tools", None) if self.tools is not None else None
        if with_tools is not None and self.tools is not None:
            return with_tools(self.prompt(history), self.tools.specs)
        plain = getattr(self.llm, "prefill", None)
        return None if plain is None else plain(self.prompt(history))

    async def generate(self, reply: AgentReply, history: list[ChatMessage]) -> None:
        """Answer ``history``: LLM tokens become phrases, each phrase is spoken as soon as it is cut.

        Once the first phrase is cut, no more tokens are read until its first audio exists: a local LLM stops
        within a token or two (``engines.worker_stream``), so the TTS of the phrase the caller is waiting for has
        the cores to itself; the rest of the reply is written while that phrase plays."""
        phrases: asyncio.Queue[str | Phrase | None] = asyncio.Queue()
        splitter = PhraseSplitter()
        first_audio = asyncio.Event()
        speaker = asyncio.create_task(self._speak_phrases(reply, phrases, first_audio))
        llm_started = time.monotonic()
        first_phrase = True
        if self.tools is not None and isinstance(self.llm, ToolLlm):
            stream: AsyncIterator[str | Phrase] = self.tools.run(reply, self.llm, self.prompt(history), self.options)
        else:
            stream = self.llm.stream(self.prompt(history), self.options)
        try:
            async for token in stream:
                if isinstance(token, Phrase):  # ready audio (a tool's filler): after the words said before it
                    for phrase in splitter.flush():
                        phrases.put_nowait(phrase)
                    phrases.put_nowait(token)
                    continue
                if reply.metrics.llm_first_token is None:
                    reply.metrics.mark("llm_first_token", time.monotonic())
                cut = splitter.push(token)
                for phrase in cut:
                    if first_phrase:
                        reply.engine_time("llm", llm_started, time.monotonic())
                        first_phrase = False
                    phrases.put_nowait(phrase)
                if cut and not first_audio.is_set():
                    await _first_of(first_audio.wait(), speaker)
            for phrase in splitter.flush():
                if first_phrase:
                    reply.engine_time("llm", llm_started, time.monotonic())
                    first_phrase = False
                phrases.put_nowait(phrase)
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()  # type: ignore[attr-defined]  # engines return async generators, typed as AsyncIterator
            phrases.put_nowait(None)
        reply.utterance.hang_up_after = reply.utterance.hang_up_after or splitter.end_call  # or the end_call tool
        await speaker

    async def _speak_phrases(self, reply: AgentReply, phrases: asyncio.Queue[str | Phrase | None],
                             first_audio: asyncio.Event) -> None:
        first = True
        while (text := await phrases.get()) is not None:
            if isinstance(text, Phrase):
                reply.utterance.phrases.append(text)
                reply.utterance.changed()
                first_audio.set()
                continue
            started = time.monotonic()
            phrase = reply.utterance.new_phrase(text)
            async for pcm in self._tts(text):
                if first:
                    now = time.monotonic()
                    reply.metrics.mark("tts_first_audio", now)
                    reply.engine_time("tts", started, now)
                    first = False
                reply.utterance.add_audio(phrase, pcm, self.tts.sample_rate)
                first_audio.set()
            reply.utterance.end_phrase(phrase)
            first_audio.set()  # a phrase without audio: nothing to wait for

    async def speak(self, utterance: Utterance, text: str) -> None:
        """Speak a fixed text (the welcome message) sentence by sentence; the utterance is done after it."""
        try:
            splitter = PhraseSplitter()
            for sentence in splitter.push(text) + splitter.flush():
                phrase = utterance.new_phrase(sentence)
                async for pcm in self._tts(sentence):
                    utterance.add_audio(phrase, pcm, self.tts.sample_rate)
                utterance.end_phrase(phrase)
        finally:
            utterance.done()

    def _tts(self, text: str) -> AsyncIterator[bytes]:
        return self.tts.synthesize(text, self.agent.voice_id, self.agent.speech_speed)


async def _first_of(event_wait: Awaitable[object], task: asyncio.Task[None]) -> None:
    """Wait for ``event_wait`` or for ``task`` to end (a failed speaker must not leave the writer waiting)."""
    waiter = asyncio.ensure_future(event_wait)
    try:
        await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
