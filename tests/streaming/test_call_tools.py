"""Tools during a call, over the real Twilio media-stream harness with the instant engines (the instant LLM is a
scripted tool user): ``web_search`` searches the SearXNG stand-in over HTTP while the caller hears "Let me look that
up.", and the reply states what the corpus says; a search slower than its 2.5 s deadline is given up and the agent
says it could not look it up; a barge-in during a search cancels it; ``end_call`` hangs up after the goodbye."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from chalicelib.domain.agent_settings import AgentSettings
from chalicelib.schemas.calls import TurnMetric
from devstack.search_standin import SearchStandin
from streaming.engines.base import ChatMessage, LlmOptions, ToolCall, ToolChosen
from streaming.engines.instant import FOUND, GOODBYE, NOT_FOUND, InstantLlm, InstantStt, InstantTts
from streaming.engines.registry import EngineRegistry
from streaming.pipeline.prompt import system_prompt
from streaming.pipeline.tool_calls import LOOKUP_FILLER, CallTools
from streaming.server import STATE
from tests.streaming.harness import RecordingLifecycle, TwilioSide, quiet, running_server, tone

QUESTION = "Can you look up the Gull Island ferry fares?"
FACT = "A round trip costs 14 dollars for adults"  # devstack/search_corpus.json, the Gull Island ferry document
WEB_SEARCH_AGENT = {"welcome_message": "Hello there.", "web_search": {"enabled": True, "provider": "SearXNG"}}


@pytest.fixture()
def standin() -> Iterator[SearchStandin]:
    with SearchStandin() as running:
        yield running


def search_env(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("PARLEY_SEARXNG_URL", url)
    monkeypatch.setenv("PARLEY_SEARCH_PROVIDER_OVERRIDE", "SearXNG")
    monkeypatch.setenv("PARLEY_SEARCH_ALLOWED_NETWORKS", "127.0.0.0/8")


def agent_idle(app: web.Application) -> bool:
    """Every live call has answered its caller's turn and has nothing left to play."""
    sessions = [call.session for call in app[STATE].active.values() if call.session is not None]
    return bool(sessions) and all(
        s.metrics and not s.turns._replies  # no reply task still running
        and s.output.current is None and not s.output.queue for s in sessions)


def registry_for(caller_says: str) -> EngineRegistry:
    registry = EngineRegistry()
    registry.register("stt", "instant", InstantStt, text=caller_says)
    return registry


async def ask(recorder: RecordingLifecycle, registry: EngineRegistry, call_id: int,
              during_reply: Any = None) -> None:
    """The caller says one turn; the scenario ends once the agent has answered it and fallen silent."""
    async with running_server(recorder, registry=registry) as (url, app), aiohttp.ClientSession() as http:
        side = await TwilioSide.open(http, url, call_id=call_id)
        await side.wait_for(lambda: side.events("mark"))  # the welcome message played
        heard = len(side.events("media"))
        await side.audio(quiet(0.3) + tone(0.6) + quiet(0.8), realtime=True)
        if during_reply is not None:
            await side.wait_for(lambda: len(side.events("media")) > heard + 5)  # the agent is speaking again
            await during_reply(side)
        await side.wait_for(lambda: agent_idle(app), timeout=120)
        await side.stop()
        await side.closed()
        await side.wait_for(lambda: recorder.finalized)


def agent_turn(recorder: RecordingLifecycle) -> tuple[str, dict[str, Any]]:
    [(_call_id, result)] = recorder.finalized
    assert not result.conversation.get("errors"), result.conversation
    [reply] = [turn for turn in result.transcript[1:] if turn["role"] == "agent"]
    [metrics] = result.turn_metrics
    TurnMetric.model_validate(metrics)  # what the call log will hold fits its schema
    return reply["text"], metrics


def test_the_agent_looks_up_what_it_does_not_know_and_says_what_the_search_found(
        standin: SearchStandin, monkeypatch: pytest.MonkeyPatch) -> None:
    search_env(monkeypatch, standin.url)
    recorder = RecordingLifecycle(agent_config=WEB_SEARCH_AGENT)

    asyncio.run(asyncio.wait_for(ask(recorder, registry_for(QUESTION), call_id=81), 60))

    text, metrics = agent_turn(recorder)
    assert text.startswith(f"{LOOKUP_FILLER} {FOUND}"), text  # the filler first, then the answer
    assert FACT in text, text
    [search] = metrics["tool_calls"]
    assert search["name"] == "web_search" and search["query"] == "the gull island ferry fares"
    assert search["results"] >= 1 and search["error"] is None
    assert 0 < search["latency_ms"] < 2500
    # the filler was queued as the search started; the answer's own audio came after the search
    assert metrics["end_of_turn_ms"] <= search["filler_out_ms"] <= search["started_ms"] + 50, metrics
    assert metrics["first_audio_out_ms"] >= search["started_ms"] + search["latency_ms"], metrics
    assert metrics["engine_ms"]["search"] == pytest.approx(search["latency_ms"], abs=1)


def test_the_filler_starts_as_soon_as_the_model_chooses_to_search_not_after_it_wrote_the_query(
        standin: SearchStandin, monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine that says its choice early (``ToolChosen``, as llama.cpp's decision step and Bedrock's
    ``contentBlockStart`` do) gets the filler playing while the query is still being written."""
    search_env(monkeypatch, standin.url)
    recorder = RecordingLifecycle(agent_config=WEB_SEARCH_AGENT)
    writing_s = 0.5

    class SlowQuery(InstantLlm):
        async def stream_with_tools(self, messages: list[ChatMessage], tools: Any,
                                    options: LlmOptions) -> AsyncIterator[str | ToolCall | ToolChosen]:
            async for item in super().stream_with_tools(messages, tools, options):
                if isinstance(item, ToolCall):
                    yield ToolChosen(item.name)
                    await asyncio.sleep(writing_s)  # the model writes the query
                yield item

    registry = registry_for(QUESTION)
    registry.register("llm", "instant", SlowQuery)
    asyncio.run(asyncio.wait_for(ask(recorder, registry, call_id=86), 60))

    text, metrics = agent_turn(recorder)
    assert text.startswith(f"{LOOKUP_FILLER} {FOUND}") and FACT in text, text
    [search] = metrics["tool_calls"]
    assert search["filler_out_ms"] <= search["started_ms"] - 1000 * writing_s + 50, metrics


@asynccontextmanager
async def slow_searxng(delay_s: float) -> AsyncIterator[tuple[str, list[str]]]:
    """A SearXNG-compatible server that answers after ``delay_s``; lists the requests that were cut off."""
    abandoned: list[str] = []

    async def search(request: web.Request) -> web.Response:
        try:
            await asyncio.sleep(delay_s)
        except asyncio.CancelledError:
            abandoned.append(request.query.get("q", ""))
            raise
        return web.json_response({"query": request.query.get("q"), "results": [], "number_of_results": 0})

    app = web.Application()
    app.router.add_get("/search", search)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp keeps the bound socket here
    try:
        yield f"http://127.0.0.1:{port}", abandoned
    finally:
        await runner.cleanup()


def test_a_search_slower_than_its_deadline_is_given_up_and_the_agent_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = RecordingLifecycle(agent_config=WEB_SEARCH_AGENT)

    async def scenario() -> None:
        async with slow_searxng(4.0) as (url, _abandoned):
            search_env(monkeypatch, url)
            await ask(recorder, registry_for(QUESTION), call_id=82)

    asyncio.run(asyncio.wait_for(scenario(), 60))

    text, metrics = agent_turn(recorder)
    assert text == f"{LOOKUP_FILLER} {NOT_FOUND}", text
    [search] = metrics["tool_calls"]
    assert search["results"] is None and "2.5 seconds" in search["error"]
    assert 2450 <= search["latency_ms"] < 3500, search


def test_a_barge_in_during_a_search_cancels_it(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = RecordingLifecycle(agent_config=WEB_SEARCH_AGENT)

    async def interrupt(side: TwilioSide) -> None:  # the caller talks over the filler
        await side.audio(tone(0.6) + quiet(0.8), realtime=True)

    async def scenario() -> list[str]:
        async with slow_searxng(4.0) as (url, abandoned):
            search_env(monkeypatch, url)
            await ask(recorder, registry_for(QUESTION), call_id=83, during_reply=interrupt)
            return abandoned

    abandoned = asyncio.run(asyncio.wait_for(scenario(), 60))

    [(_call_id, result)] = recorder.finalized
    assert not result.conversation.get("errors"), result.conversation
    first, second = result.turn_metrics  # the caller's question, then the words they interrupted with
    assert first["tool_calls"][0]["error"] == "cancelled" and first["tool_calls"][0]["latency_ms"] < 2500, first
    assert abandoned[:1] == ["the gull island ferry fares"]  # its HTTP request was dropped, not left to run
    interrupted = result.transcript[2]
    assert interrupted["role"] == "agent" and interrupted["interrupted"], interrupted
    assert NOT_FOUND not in interrupted["generated"]
    assert "2.5 seconds" in second["tool_calls"][0]["error"]  # the new turn searched again (and timed out)


def test_the_end_call_tool_hangs_up_after_the_goodbye() -> None:
    recorder = RecordingLifecycle(agent_config={"end_call": {"enabled": True}})

    async def scenario() -> None:
        registry = registry_for("That is all, goodbye.")
        async with running_server(recorder, registry=registry) as (url, _app), aiohttp.ClientSession() as http:
            side = await TwilioSide.open(http, url, call_id=84)
            await side.audio(tone(0.4) + quiet(0.6))
            await side.closed()  # the agent hung up
            await side.wait_for(lambda: recorder.finalized)

    asyncio.run(asyncio.wait_for(scenario(), 60))

    [(_call_id, result)] = recorder.finalized
    assert result.ended_by == "agent"
    assert result.transcript[-1] == {**result.transcript[-1], "role": "agent", "text": GOODBYE}
    assert [call["name"] for call in result.turn_metrics[0]["tool_calls"]] == ["end_call"]


class PlainLlm:
    """An engine without tools (no ``stream_with_tools``)."""

    name = "plain"

    async def stream(self, messages: list[ChatMessage], options: LlmOptions) -> AsyncIterator[str]:
        yield "Goodbye! [END_CALL]"


def test_an_engine_without_tools_keeps_the_end_call_marker() -> None:
    agent = AgentSettings.from_stored({"end_call": {"enabled": True}, "web_search": {"enabled": True}})
    assert CallTools.for_call(agent, PlainLlm(), InstantTts(), 8000) is None
    assert "[END_CALL]" in system_prompt(agent, {})
    tools = CallTools.for_call(agent, InstantLlm(), InstantTts(), 8000, env={})
    assert tools is not None and tools.names == {"web_search", "end_call"}
    with_tools = system_prompt(agent, {}, frozenset(tools.names))
    assert "[END_CALL]" not in with_tools and "call end_call" in with_tools and "call web_search" in with_tools


RECEPTIONIST = {
    "welcome_message": "Bright Smile Dental, how can I help?",
    "context_breakdown": [{"title": "Role", "body": "You are the receptionist of Bright Smile Dental. Hours: Monday "
                                                    "to Friday 9am to 5pm. Free slots: Tuesday 10am, Thursday 3pm."}],
    "model": {"temperature": 0.3},
    "web_search": {"enabled": True, "provider": "DuckDuckGo"},  # the SDK's default; the test routes it to SearXNG
}


@pytest.mark.slow
def test_the_local_model_searches_mid_call_and_states_what_only_the_corpus_knows(
        standin: SearchStandin, monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end with the real local LLM (Qwen2.5-Coder-0.5B on llama.cpp): the caller asks what only the search
    corpus can answer; the agent says the lookup filler, searches the stand-in over HTTP and states the fact."""
    pytest.importorskip("llama_cpp")
    from streaming.engines.llama_llm import LlamaLlm
    from streaming.engines.llama_models import ModelFileError

    registry = registry_for("How much is a round trip on the Gull Island ferry?")
    registry.register("llm", "instant", LlamaLlm, model="qwen2.5-coder-0.5b")
    try:
        registry.llm("instant")  # loaded (and warmed up) before the call, as the service preloads it
    except (ModelFileError, ModuleNotFoundError) as error:
        pytest.skip(f"the packaged Qwen2.5-Coder-0.5B is not installed here: {error}")
    search_env(monkeypatch, standin.url)
    recorder = RecordingLifecycle(agent_config=RECEPTIONIST)

    asyncio.run(asyncio.wait_for(ask(recorder, registry, call_id=85), 240))

    text, metrics = agent_turn(recorder)
    assert text.startswith(LOOKUP_FILLER) and "14" in text, text
    [search] = metrics["tool_calls"]
    assert search["name"] == "web_search" and "ferry" in search["query"].lower(), search
    assert search["results"] >= 1 and search["error"] is None and 0 < search["latency_ms"] < 2500, search
    assert search["filler_out_ms"] is not None and metrics["first_audio_out_ms"] > search["filler_out_ms"], metrics


def test_the_search_result_the_model_reads_has_no_sites_to_read_out() -> None:
    from streaming.pipeline.tool_calls import search_found

    text = search_found("city hall", "1. City Hall: open 8:30 am to 4:30 pm. (cityhall.example.gov)\n2. Bus: every 15 "
                                     "minutes (Central Station). (bus.example.org)")
    assert "example" not in text and "(Central Station)." in text
    assert text.startswith("Search results for 'city hall':\n1. City Hall: open 8:30 am to 4:30 pm.\n")
