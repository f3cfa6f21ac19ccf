"""Tools during a call: the agent's ``end_call`` and ``web_search`` as tools the LLM calls mid-reply.

Offered only when the call's LLM engine can call tools (:class:`~streaming.engines.base.ToolLlm`) and the agent
enables them; otherwise the reply is plain text (``end_call`` then rides on the ``[END_CALL]`` marker).

One reply may take up to :data:`MAX_TOOL_ROUNDS` rounds of tools: the model streams text (spoken as it comes) and
tool calls; the tools run; their results join the messages and the model is asked again.

- ``web_search(query)``: a short pre-synthesized filler ("Let me look that up.") is queued after what the model
  already said, as soon as the model has chosen the tool (engines that say so, :class:`ToolChosen`: while the
  query is still being written), else when the call is complete; the search runs with its deadline (2.5 s,
  ``streaming.search.search_with_deadline``); the results, trimmed for the prompt, are the tool's result. A
  search that fails or times out gives the model a result saying so and asking it to tell the caller it could
  not look it up. A barge-in cancels the reply's task, and with it the search (its HTTP request is abandoned).
- ``end_call()``: the reply's utterance hangs up after it has been heard; when the model called it without a
  word, it is asked once more for its goodbye.

Each tool call is recorded in the turn's metrics (``tool_calls``: name, query, when it started, the search's
latency, result count or error, when the filler was queued), which reach the call record and the live feed.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from chalicelib.domain.agent_settings import AgentSettings
from chalicelib.domain.web_search import KEYED_PROVIDERS
from streaming.engines.base import (
    ChatMessage,
    LlmEngine,
    LlmOptions,
    ToolCall,
    ToolChosen,
    ToolLlm,
    ToolSpec,
    TtsEngine,
)
from streaming.pipeline.filler import ready_phrase, synthesize_for_call
from streaming.pipeline.metrics import TurnMetrics
from streaming.pipeline.output import Phrase
from streaming.pipeline.replies import AgentReply
from streaming.search import (
    DEFAULT_DEADLINE_S,
    SearchError,
    SearchProvider,
    account_search_keys,
    effective_provider,
    provider_for,
    results_for_prompt,
    search_with_deadline,
)

log = logging.getLogger("parley.streaming.session")

MAX_TOOL_ROUNDS = 2  # tool rounds per reply; a model still calling tools after them is cut off
LOOKUP_FILLER = "Let me look that up."
SEARCH_RESULTS = 3  # a small model answers best from a few results (and evaluates them faster)
RESULT_CHARS = 600

WEB_SEARCH = ToolSpec(
    "web_search",
    "Search the web for a fact your instructions do not give (places, events, people, opening times and prices "
    "elsewhere, news). Returns a few short results.",
    {"type": "object", "properties": {"query": {"type": "string", "minLength": 1, "maxLength": 120,
                                                "description": "What to search for, in a few words"}},
     "required": ["query"], "additionalProperties": False},
    answer_lead_in="From what I found,",
)
END_CALL = ToolSpec("end_call", "Hang up the call, after your goodbye.",
                    {"type": "object", "properties": {}, "additionalProperties": False})
END_CALL_RESULT = "The call ends after your reply. Say a short goodbye."
_SITE = re.compile(r"\s*\([A-Za-z0-9.-]+\.[A-Za-z]{2,}\)$")  # results_for_prompt's " (site)" at a line's end


def search_found(query: str, results: str) -> str:
    """The tool result of a search: the trimmed results without their sites (a small model reads them out:
    "closes at 4 pm (cityhall.example.gov)"), and what to do with them (small models need telling)."""
    spoken = "\n".join(_SITE.sub("", line) for line in results.splitlines())
    return (f"Search results for {query!r}:\n{spoken}\n\nAnswer the caller's question from these results in one "
            "or two short spoken sentences.")


def search_failed(error: SearchError) -> str:
    return (f"The search failed: {error}. Tell the caller, in one short sentence, that you could not look it up "
            "right now.")


class CallTools:
    """The tools one call's agent offers the LLM, and running them (see the module notes)."""

    def __init__(self, specs: Sequence[ToolSpec], *, agent: AgentSettings | None = None,
                 search: SearchProvider | None = None, account_id: int | None = None,
                 env: Mapping[str, str] | None = None, tts: TtsEngine | None = None, voice_id: str | None = None,
                 speed: float = 1.0, rate: int = 8000, deadline_s: float = DEFAULT_DEADLINE_S) -> None:
        self.specs = list(specs)
        self.agent = agent
        self.search = search  # built on first need from the agent's web_search (``_provider``) when not given
        self.account_id = account_id
        self.env = os.environ if env is None else env
        self.tts = tts
        self.voice_id = voice_id
        self.speed = speed
        self.rate = rate
        self.deadline_s = deadline_s
        self._filler_pcm: bytes | None = None

    @classmethod
    def for_call(cls, agent: AgentSettings, llm: LlmEngine, tts: TtsEngine, rate: int, *,
                 account_id: int | None = None, env: Mapping[str, str] | None = None) -> CallTools | None:
        """The call's tools, or None when there are none (no tool enabled, or an engine without tools).
        ``account_id`` opens the account's search keys (Tavily, Exa) when the agent's provider needs one."""
        if not isinstance(llm, ToolLlm):
            return None
        specs: list[ToolSpec] = []
        if agent.web_search is not None and agent.web_search.enabled:
            specs.append(WEB_SEARCH)  # offered even when it cannot work: the caller hears it could not look it up
        if agent.agent_ends_calls:
            specs.append(END_CALL)
        if not specs:
            return None
        return cls(specs, agent=agent, account_id=account_id, env=env, tts=tts, voice_id=agent.voice_id,
                   speed=agent.speech_speed, rate=rate)

    @property
    def names(self) -> set[str]:
        return {spec.name for spec in self.specs}

    async def prepare(self) -> None:
        """Synthesize the lookup filler and set up the search provider, once per call (while the welcome
        message plays)."""
        if WEB_SEARCH.name not in self.names:
            return
        with contextlib.suppress(SearchError):
            await self._provider()
        if self.tts is not None:
            self._filler_pcm = await synthesize_for_call(self.tts, LOOKUP_FILLER, self.voice_id, self.speed, self.rate)

    async def _provider(self) -> SearchProvider:
        """The agent's search provider (with the account's keys when it needs one); SearchError if there is none."""
        if self.search is None:
            settings = self.agent.web_search if self.agent is not None else None
            keys: dict[str, str] = {}
            try:
                keyed = effective_provider(settings, self.env) in KEYED_PROVIDERS
            except SearchError as error:
                log.warning("web search unavailable for this call: %s", error)
                raise
            if keyed and self.account_id is not None:
                keys = await account_search_keys(self.account_id)
            try:
                self.search = provider_for(settings, keys, self.env)
            except SearchError as error:
                log.warning("web search unavailable for this call: %s", error)
                raise
        return self.search

    async def run(self, reply: AgentReply, llm: ToolLlm, messages: list[ChatMessage],
                  options: LlmOptions) -> AsyncIterator[str | Phrase]:
        """The reply's text pieces, and the lookup filler as a ready :class:`Phrase` (in speaking order)."""
        messages = list(messages)
        said = False
        filler_at: float | None = None  # when the lookup filler was queued (once per reply)
        filler_recorded = False
        for round_ in range(MAX_TOOL_ROUNDS + 1):
            pieces: list[str] = []
            calls: list[ToolCall] = []
            stream = llm.stream_with_tools(messages, self.specs, options)
            try:
                async for item in stream:
                    if isinstance(item, ToolChosen):  # a search is coming: the filler now, not after its query
                        if item.name == WEB_SEARCH.name and item.name in self.names and filler_at is None:
                            filler_at = time.monotonic()
                            yield self._filler(reply)
                    elif isinstance(item, ToolCall):
                        if item.name in self.names:
                            calls.append(item)
                    elif item:
                        pieces.append(item)
                        yield item
            finally:
                with contextlib.suppress(Exception):
                    await stream.aclose()  # type: ignore[attr-defined]  # engines return async generators, typed as AsyncIterator
            text = "".join(pieces)
            said = said or bool(text.strip())
            if not calls:
                return
            if round_ == MAX_TOOL_ROUNDS:
                log.info("tool calls past the last round ignored", extra={"turn": reply.metrics.turn})
                return
            results: list[ChatMessage] = []
            for call in calls:
                if call.name == END_CALL.name:
                    reply.utterance.hang_up_after = True
                    reply.metrics.tool_calls.append({"name": call.name, "started_ms": _ms(reply.metrics)})
                    results.append(ChatMessage("tool", END_CALL_RESULT, tool_call_id=call.id))
                    continue
                if filler_at is None:  # an engine that does not say its choice early
                    filler_at = time.monotonic()
                    yield self._filler(reply)
                results.append(await self._search(reply, call, None if filler_recorded else filler_at))
                filler_recorded = True  # on the reply's first search only
            if all(call.name == END_CALL.name for call in calls) and said:
                return  # the goodbye was said: nothing to ask the model
            messages += [ChatMessage("assistant", text, tool_calls=tuple(calls)), *results]

    def _filler(self, reply: AgentReply) -> Phrase | str:
        utterance = reply.utterance
        if self._filler_pcm is None:  # not synthesized (yet): spoken like the reply's words
            return f"{LOOKUP_FILLER} "
        name = f"u{utterance.uid}t{sum(1 for p in utterance.phrases if p.filler) + 1}"
        return ready_phrase(name, LOOKUP_FILLER, self._filler_pcm, self.rate)

    async def _search(self, reply: AgentReply, call: ToolCall, filler_at: float | None) -> ChatMessage:
        query = " ".join(str(call.arguments.get("query") or "").split())
        started = time.monotonic()
        record: dict[str, Any] = {"name": call.name, "query": query, "started_ms": _ms(reply.metrics, started),
                                  "latency_ms": None, "results": None, "error": None,
                                  "filler_out_ms": None if filler_at is None else _ms(reply.metrics, filler_at)}
        reply.metrics.tool_calls.append(record)
        try:
            provider = await self._provider()
            results = await search_with_deadline(provider, query, max_results=SEARCH_RESULTS,
                                                 timeout_s=self.deadline_s)
        except SearchError as error:
            record.update(error=str(error)[:200], latency_ms=_elapsed_ms(started))
            log.info("web search failed: %s", error, extra={"turn": reply.metrics.turn})
            return ChatMessage("tool", search_failed(error), tool_call_id=call.id, tool_error=True)
        except asyncio.CancelledError:
            record.update(error="cancelled", latency_ms=_elapsed_ms(started))
            raise
        ended = time.monotonic()
        record.update(results=len(results), latency_ms=_elapsed_ms(started, ended))
        reply.engine_time("search", started, ended)
        return ChatMessage("tool", search_found(query, results_for_prompt(results, RESULT_CHARS)), tool_call_id=call.id)


def _ms(metrics: TurnMetrics, at: float | None = None) -> float:
    """Milliseconds from the caller's end of speech to ``at`` (now)."""
    return round(1000 * ((time.monotonic() if at is None else at) - metrics.end_of_speech), 1)


def _elapsed_ms(started: float, ended: float | None = None) -> float:
    return round(1000 * ((time.monotonic() if ended is None else ended) - started), 1)
