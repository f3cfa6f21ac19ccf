"""Post-call analysis: prompt, schema, validation and failure handling with fake engines; then the real
SmolLM2 engine producing a grammar-constrained analysis (structure only: a 135M model summarises poorly)."""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from streaming.engines.base import ChatMessage, JsonLlm, LlmOptions
from streaming.engines.errors import EngineError
from streaming.engines.instant import InstantLlm
from streaming.post_call_analysis import (
    NO_CONVERSATION,
    SENTIMENTS,
    SUMMARY_MAX_CHARS,
    VALUE_MAX_CHARS,
    Analysis,
    analysis_schema,
    analyze,
    output_token_budget,
    render_transcript,
)

VARIABLES = [{"key": "date", "prompt": "The day of the appointment"},
             {"key": "time", "prompt": "The time of the appointment"}]
BOOKING = [
    {"role": "agent", "text": "Hello, this is Bright Smile dental clinic. How can I help?",
     "start_s": 0.0, "end_s": 2.5, "source": "welcome"},
    {"role": "user", "text": "Hi, I'd like to book a cleaning for Friday at 3 pm.", "start_s": 3.0, "end_s": 5.5},
    {"role": "agent", "text": "Done: a cleaning on Friday at 3 pm. Anything else?", "start_s": 6.0, "end_s": 8.0},
    {"role": "user", "text": "No, that's all. Thanks, bye!", "start_s": 8.5, "end_s": 9.5},
]
GOOD = {"summary": "The caller booked a cleaning for Friday at 3 pm.", "sentiment": "positive",
        "extracted_variables": {"date": "Friday", "time": "3 pm"}}


class FakeJsonLlm:
    """A JsonLlm that records its requests and answers ``reply``, raises ``error`` or takes ``delay_s``."""

    def __init__(self, reply: Any = None, *, error: BaseException | None = None, delay_s: float = 0.0,
                 context_tokens: int | None = None) -> None:
        self.name = "fake"
        self.reply = reply
        self.error = error
        self.delay_s = delay_s
        self.requests: list[tuple[list[ChatMessage], dict[str, Any], LlmOptions]] = []
        self.cancelled = False
        if context_tokens is not None:
            self.context_tokens = context_tokens

    async def stream(self, messages: list[ChatMessage], options: LlmOptions) -> AsyncIterator[str]:
        yield ""

    async def complete_json(self, messages: list[ChatMessage], schema: dict[str, Any],
                            options: LlmOptions) -> dict[str, Any]:
        self.requests.append((messages, schema, options))
        try:
            await asyncio.sleep(self.delay_s)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self.error is not None:
            raise self.error
        return self.reply


def run(transcript: list[dict[str, Any]], llm: Any, variables: list[dict[str, Any]] = VARIABLES,
        **kwargs: Any) -> Analysis:
    return asyncio.run(analyze(transcript, variables, llm, **kwargs))


def assert_failed(analysis: Analysis, error: str) -> None:
    assert (analysis.summary, analysis.sentiment) == (None, None)
    assert analysis.extracted_variables == {"date": None, "time": None}
    assert analysis.errors == [error]


# --- the request and a good answer ---------------------------------------------------------------

def test_happy_path_sends_the_transcript_and_variables_and_keeps_the_answer() -> None:
    llm = InstantLlm(json_reply=GOOD)
    captured: list[tuple[list[ChatMessage], dict[str, Any], LlmOptions]] = []
    original = llm.complete_json

    async def spy(messages: list[ChatMessage], schema: dict[str, Any], options: LlmOptions) -> dict[str, Any]:
        captured.append((messages, schema, options))
        return await original(messages, schema, options)

    llm.complete_json = spy  # type: ignore[method-assign]
    analysis = run(BOOKING, llm)

    assert analysis.summary == GOOD["summary"]
    assert analysis.sentiment == "positive"
    assert analysis.extracted_variables == {"date": "Friday", "time": "3 pm"}
    assert analysis.errors == [] and analysis.transcript_truncated is False
    assert analysis.engine == "instant" and analysis.compute_ms >= 0
    assert json.loads(json.dumps(analysis.to_json())) == {
        "summary": GOOD["summary"], "sentiment": "positive", "extracted_variables": {"date": "Friday", "time": "3 pm"},
        "errors": [], "engine": "instant", "compute_ms": analysis.compute_ms, "transcript_truncated": False}

    (messages, schema, options), = captured
    assert [m.role for m in messages] == ["system", "user"]
    assert "- date: The day of the appointment\n- time: The time of the appointment" in messages[0].content
    assert messages[1].content == (
        "Transcript:\nAgent: Hello, this is Bright Smile dental clinic. How can I help?\n"
        "Caller: Hi, I'd like to book a cleaning for Friday at 3 pm.\n"
        "Agent: Done: a cleaning on Friday at 3 pm. Anything else?\nCaller: No, that's all. Thanks, bye!")
    assert schema == analysis_schema(["date", "time"])
    assert schema["required"] == ["summary", "sentiment", "extracted_variables"]
    assert schema["properties"]["sentiment"]["enum"] == list(SENTIMENTS)
    assert schema["properties"]["summary"]["maxLength"] == SUMMARY_MAX_CHARS
    assert schema["properties"]["extracted_variables"]["required"] == ["date", "time"]
    assert schema["properties"]["extracted_variables"]["properties"]["date"] == {
        "type": ["string", "null"], "maxLength": VALUE_MAX_CHARS}
    assert (options.temperature, options.model) == (0.0, None)
    assert options.max_tokens == output_token_budget(["date", "time"])


def test_options_keep_model_and_temperature_but_not_a_too_small_max_tokens() -> None:
    llm = FakeJsonLlm(GOOD)
    run(BOOKING, llm, options=LlmOptions(temperature=0.2, max_tokens=20, model="amazon.nova-lite-v1:0"))
    _, _, options = llm.requests[0]
    assert (options.temperature, options.model) == (0.2, "amazon.nova-lite-v1:0")
    assert options.max_tokens == output_token_budget(["date", "time"]) > 20


def test_instant_engine_answers_a_valid_example_of_the_schema() -> None:
    """The load-test path: no configured answer, still a complete, valid analysis."""
    analysis = run(BOOKING, InstantLlm())
    assert analysis.errors == []
    assert (analysis.summary, analysis.sentiment) == ("instant", "positive")
    assert analysis.extracted_variables == {"date": "instant", "time": "instant"}
    assert isinstance(InstantLlm(), JsonLlm)


def test_no_variables_gives_an_empty_object() -> None:
    llm = FakeJsonLlm({"summary": "A call.", "sentiment": "neutral", "extracted_variables": {}})
    analysis = run(BOOKING, llm, variables=[])
    assert (analysis.summary, analysis.sentiment, analysis.extracted_variables, analysis.errors) == (
        "A call.", "neutral", {}, [])
    messages, schema, _ = llm.requests[0]
    assert schema["properties"]["extracted_variables"]["properties"] == {}
    assert "an empty object {}" in messages[0].content


# --- validation of the answer -----------------------------------------------------------------------

def test_invalid_sentiment_is_dropped_with_an_error_and_near_misses_are_normalized() -> None:
    bad = run(BOOKING, FakeJsonLlm({**GOOD, "sentiment": "ecstatic"}))
    assert bad.sentiment is None
    assert bad.errors == ["invalid output: sentiment 'ecstatic' is not one of positive, neutral, negative"]
    assert (bad.summary, bad.extracted_variables) == (GOOD["summary"], {"date": "Friday", "time": "3 pm"})

    assert run(BOOKING, FakeJsonLlm({**GOOD, "sentiment": " Negative. "})).sentiment == "negative"
    missing = run(BOOKING, FakeJsonLlm({"summary": "x", "extracted_variables": {}}))
    assert missing.sentiment is None and "invalid output: no sentiment" in missing.errors


def test_missing_keys_are_none_and_unknown_keys_dropped() -> None:
    analysis = run(BOOKING, FakeJsonLlm({**GOOD, "extracted_variables": {"date": " Friday ", "bogus": "x"}}))
    assert analysis.extracted_variables == {"date": "Friday", "time": None}
    assert analysis.errors == []


def test_wrongly_typed_output_is_reported_field_by_field() -> None:
    analysis = run(BOOKING, FakeJsonLlm({"summary": "  ", "sentiment": 3,
                                         "extracted_variables": {"date": ["Fri"], "time": 15}}))
    assert (analysis.summary, analysis.sentiment) == (None, None)
    assert analysis.extracted_variables == {"date": None, "time": "15"}
    assert analysis.errors == ["invalid output: no summary",
                               "invalid output: sentiment 3 is not one of positive, neutral, negative",
                               "invalid output: extracted_variables.date is a list"]
    not_object = run(BOOKING, FakeJsonLlm({**GOOD, "extracted_variables": "Friday"}))
    assert not_object.extracted_variables == {"date": None, "time": None}
    assert not_object.errors == ["invalid output: extracted_variables is not an object"]


def test_over_long_strings_are_cut_to_the_schema_bounds() -> None:
    analysis = run(BOOKING, FakeJsonLlm({**GOOD, "summary": "s" * 1000,
                                         "extracted_variables": {"date": "d" * 500, "time": None}}))
    assert len(analysis.summary or "") == SUMMARY_MAX_CHARS
    assert len(analysis.extracted_variables["date"]) == VALUE_MAX_CHARS


def test_bad_variable_entries_are_skipped_and_reported() -> None:
    variables = [{"key": "date", "prompt": "Day"}, {"key": "date", "prompt": "again"}, {"key": "not a key"},
                 "junk", {"key": "time"}]
    llm = FakeJsonLlm(GOOD)
    analysis = run(BOOKING, llm, variables=variables)  # type: ignore[arg-type]
    assert analysis.extracted_variables == {"date": "Friday", "time": "3 pm"}
    assert analysis.errors == ["variable 'date' ignored: duplicate key", "variable #3 ignored: invalid key",
                               "variable #4 ignored: invalid key"]
    assert "- time: time" in llm.requests[0][0][0].content  # no prompt: the key stands in


# --- failures ------------------------------------------------------------------------------------------

def test_engine_errors_become_an_error_entry() -> None:
    throttled = EngineError("Rate exceeded", engine="fake", code="ThrottlingException", retryable=True)
    assert_failed(run(BOOKING, FakeJsonLlm(error=throttled)),
                  "analysis failed: fake [ThrottlingException]: Rate exceeded")
    assert_failed(run(BOOKING, FakeJsonLlm(error=RuntimeError("boom"))), "analysis failed: RuntimeError: boom")


def test_timeout_cancels_the_request_and_returns_promptly() -> None:
    llm = FakeJsonLlm(GOOD, delay_s=5.0)
    started = time.monotonic()
    analysis = run(BOOKING, llm, timeout_s=0.05)
    assert time.monotonic() - started < 1.0
    assert_failed(analysis, "analysis failed: timeout after 0.05 s")
    assert llm.cancelled


def test_a_bug_in_the_analysis_itself_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    import streaming.post_call_analysis as module

    def broken(*args: Any) -> None:
        raise KeyError("oops")

    monkeypatch.setattr(module, "render_transcript", broken)
    analysis = run(BOOKING, FakeJsonLlm(GOOD))
    assert (analysis.summary, analysis.errors, analysis.engine) == (
        None, ["analysis failed: internal error (KeyError)"], "fake")


def test_engine_without_json_support() -> None:
    class TextOnly:
        name = "text-only"

        async def stream(self, messages: list[ChatMessage], options: LlmOptions) -> AsyncIterator[str]:
            yield "hi"

    assert_failed(run(BOOKING, TextOnly()),
                  "analysis not supported: LLM engine 'text-only' cannot produce structured output")


@pytest.mark.parametrize("transcript", [
    [],
    [{"role": "agent", "text": "Hello, this is the clinic.", "start_s": 0.0, "end_s": 2.0, "source": "welcome"}],
    [{"role": "agent", "text": "Hello?", "start_s": 0.0, "end_s": 1.0}, {"role": "user", "text": "  ", "start_s": 1,
                                                                          "end_s": 2}],
], ids=["empty", "agent-only", "blank-caller"])
def test_no_conversation_makes_no_llm_call(transcript: list[dict[str, Any]]) -> None:
    llm = FakeJsonLlm(GOOD)
    analysis = run(transcript, llm)
    assert_failed(analysis, NO_CONVERSATION)
    assert llm.requests == [] and analysis.engine == "fake"


# --- long calls ------------------------------------------------------------------------------------

def long_call(turns: int = 200) -> list[dict[str, Any]]:
    return [{"role": "user" if i % 2 else "agent", "text": f"Turn {i}: " + "words " * 12, "start_s": float(i),
             "end_s": i + 0.5} for i in range(turns)]


def test_long_transcript_keeps_the_start_and_the_end() -> None:
    llm = FakeJsonLlm(GOOD)
    analysis = run(long_call(), llm, max_transcript_chars=2000)
    assert analysis.transcript_truncated and analysis.errors == []
    text = llm.requests[0][0][1].content.removeprefix("Transcript:\n")
    assert len(text) <= 2000
    lines = text.split("\n")
    assert lines[0].startswith("Agent: Turn 0:") and lines[-1].startswith("Caller: Turn 199:")
    (marker,) = [line for line in lines if "turns left out" in line]
    kept = [line for line in lines if line != marker]
    assert marker == f"[... {200 - len(kept)} turns left out ...]"
    head = lines.index(marker)
    assert 0 < head < len(kept) - head  # more of the end (the outcome) than of the start


def test_transcript_budget_follows_the_engine_context() -> None:
    small, large = FakeJsonLlm(GOOD, context_tokens=1024), FakeJsonLlm(GOOD)  # no context_tokens: 24k chars
    run(long_call(), small)
    run(long_call(), large)
    small_text, large_text = (llm.requests[0][0][1].content for llm in (small, large))
    assert len(small_text) < 1800 < len(large_text)  # 1024 tokens leave ~1.7k characters for the transcript
    cramped = FakeJsonLlm(GOOD, context_tokens=300)
    assert_failed(run(BOOKING, cramped), "analysis failed: the variables' prompts leave no room for the "
                                         "transcript in the model's context")
    assert cramped.requests == []


def test_many_variables_on_a_small_context_share_it_with_the_transcript() -> None:
    variables = [{"key": f"field_{i}", "prompt": f"Detail number {i} the caller gave"} for i in range(30)]
    keys = [v["key"] for v in variables]
    llm = FakeJsonLlm({**GOOD, "extracted_variables": {}}, context_tokens=2048)
    analysis = run(BOOKING, llm, variables=variables)
    assert analysis.errors == [] and analysis.extracted_variables == dict.fromkeys(keys)
    messages, _, options = llm.requests[0]
    prompt_tokens = sum(len(m.content) for m in messages) / 2.5
    assert options.max_tokens < output_token_budget(keys)  # capped: at most half of what is left
    assert prompt_tokens + options.max_tokens < 2048


def test_one_huge_turn_cannot_crowd_out_the_rest() -> None:
    transcript = [*BOOKING[:2], {"role": "user", "text": "blah " * 5000}, *BOOKING[2:]]
    text, truncated = render_transcript(transcript, 2000)
    assert truncated and len(text) <= 2000
    assert text.startswith("Agent: Hello") and text.endswith("Caller: No, that's all. Thanks, bye!")


# --- the real local model --------------------------------------------------------------------------

def test_llama_grammar_keeps_string_bounds_and_excludes_control_characters() -> None:
    """No model needed: the grammar the local engine samples under, for the analysis schema."""
    from streaming.engines.llama_llm import grammar_schema, json_grammar

    variable = grammar_schema(analysis_schema(["date"]))["properties"]["extracted_variables"]["properties"]["date"]
    assert variable == {"anyOf": [{"type": "string", "maxLength": VALUE_MAX_CHARS}, {"type": "null"}]}
    rules = dict(line.split(" ::= ", 1) for line in json_grammar(analysis_schema(["date"]), "x")._grammar.splitlines())
    assert rules["char"].startswith(r'[^"\\\x7F\x00-\x1F]')  # no raw newline inside a JSON string
    assert rules["extracted-variables-date"] == "extracted-variables-date-0 | null"
    assert rules["extracted-variables-date-0"].count("char") == VALUE_MAX_CHARS
    assert rules["sentiment"] == r'"\"positive\"" | "\"neutral\"" | "\"negative\""'
    with pytest.raises(EngineError) as caught:
        json_grammar({"type": "object", "properties": {"x": {"type": "frobnicate"}}}, "x")
    assert caught.value.code == "UnsupportedSchema"


@pytest.fixture(scope="module")
def smollm2():
    """SmolLM2 through the registry, as the service builds it (loaded once for this module)."""
    from streaming.engines.registry import EngineRegistry

    return EngineRegistry().llm("smollm2-135m")


@pytest.mark.slow
def test_smollm2_grammar_yields_a_complete_analysis(smollm2) -> None:
    started = time.perf_counter()
    analysis = run(BOOKING, smollm2, timeout_s=30)
    elapsed = time.perf_counter() - started
    print(f"\nSmolLM2 analysis of a {len(BOOKING)}-turn call: {elapsed:.2f} s; {json.dumps(analysis.to_json())}")
    assert analysis.errors == [], analysis.errors
    assert analysis.engine == "smollm2-135m"
    assert isinstance(analysis.summary, str) and 0 < len(analysis.summary) <= SUMMARY_MAX_CHARS
    assert analysis.sentiment in SENTIMENTS
    assert set(analysis.extracted_variables) == {"date", "time"}
    assert all(v is None or (isinstance(v, str) and len(v) <= VALUE_MAX_CHARS)
               for v in analysis.extracted_variables.values())


@pytest.mark.slow
def test_smollm2_json_answer_leaves_calls_saved_conversations_alone(smollm2) -> None:
    """An analysis between two turns of a call neither evicts nor adds saved KV states, and the call's
    next turn resumes from its saved state."""
    options = LlmOptions(temperature=0.0, max_tokens=6)
    clinic = [ChatMessage("system", "You are a receptionist at a dental clinic. " * 6), ChatMessage("user", "Hi")]
    reply, _ = smollm2.generate_text(clinic, options)
    saved = list(smollm2.states._entries)
    hits = smollm2.states.hits

    schema = {"type": "object", "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
              "required": ["answer"]}
    answer = asyncio.run(smollm2.complete_json([ChatMessage("user", "Is the sky blue?")], schema,
                                               LlmOptions(temperature=0.0, max_tokens=16)))
    assert answer in ({"answer": "yes"}, {"answer": "no"})
    assert list(smollm2.states._entries) == saved

    smollm2.generate_text(clinic + [ChatMessage("assistant", reply), ChatMessage("user", "Open on Saturday?")], options)
    assert smollm2.states.hits == hits + 1


@pytest.mark.slow
def test_smollm2_json_cancelled_frees_the_model(smollm2) -> None:
    """A timed-out analysis stops generating at once instead of holding the model for max_tokens."""
    story = {"type": "string", "minLength": 1400, "maxLength": 1500}  # hundreds of tokens: ~20 s on 1 thread
    schema = {"type": "object", "properties": {"story": story}, "required": ["story"]}

    async def abandon() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(smollm2.complete_json([ChatMessage("user", "Tell me a very long story.")],
                                                         schema, LlmOptions(temperature=0.0, max_tokens=1500)), 1.0)

    asyncio.run(abandon())
    started = time.perf_counter()
    smollm2.generate_text([ChatMessage("user", "Hi")], LlmOptions(temperature=0.0, max_tokens=2))
    assert time.perf_counter() - started < 5.0  # the whole story would hold the lock for ~20 s more
