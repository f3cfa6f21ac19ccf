"""The engines' tool-calling interface (``ToolLlm``): llama.cpp's tool-call detection, rendering and constraint,
and Bedrock ConverseStream's ``toolUse`` / ``toolResult`` wire format (a real boto3 client against a local server
speaking the event stream, as in ``test_aws_engines``)."""
from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from streaming.engines.aws_bedrock import BedrockLlm, build_converse_request
from streaming.engines.base import ChatMessage, LlmOptions, ToolCall, ToolChosen, ToolLlm, ToolSpec
from streaming.engines.instant import InstantLlm
from streaming.engines.llama_tools import OpenerScanner, arguments_schema, tool_turns
from tests.streaming.engines.test_aws_engines import client_for, event, eventstream_reply, fake_aws  # noqa: F401  # fake_aws is a fixture used by name

WEB_SEARCH = ToolSpec("web_search", "Search the web.", {
    "type": "object", "properties": {"query": {"type": "string", "maxLength": 120}}, "required": ["query"]})
END_CALL = ToolSpec("end_call", "Hang up.", {"type": "object", "properties": {}})
MODEL = "amazon.nova-micro-v1:0"


async def collect(iterator: Any) -> list[Any]:
    return [item async for item in iterator]


# ------------------------------------------------------------------------------------------- llama.cpp: parsing

def scan(pieces: list[str]) -> tuple[str, bool]:
    scanner = OpenerScanner()
    released = "".join(scanner.push(piece) for piece in pieces)
    return released + scanner.flush(), scanner.opened


def test_a_tool_call_opener_split_across_tokens_is_never_released() -> None:
    pieces = ["Sure, let", " me check.", "\n<", "tool", "_c", "all>", '\n{"name": "web_search"', "}"]
    released, opened = scan(pieces)
    assert opened
    assert released == "Sure, let me check.\n"  # the text before the call is spoken, the call is not


def test_text_that_only_looks_like_an_opener_is_released_in_full() -> None:
    released, opened = scan(["It costs < 5", " dollars, <tool", " is a word", "."])
    assert not opened
    assert released == "It costs < 5 dollars, <tool is a word."


def test_held_back_text_is_released_as_soon_as_it_cannot_be_an_opener() -> None:
    scanner = OpenerScanner()
    assert scanner.push("Hello <tool_") == "Hello "
    assert scanner.push("x") == "<tool_x"


def test_tool_calls_and_results_render_for_a_template_with_tools() -> None:
    call = ToolCall("web_search", {"query": "ferry fares"}, "call_1")
    messages = [ChatMessage("system", "Be brief."), ChatMessage("assistant", "Hello."),
                ChatMessage("user", "How much is the ferry?"), ChatMessage("assistant", "", tool_calls=(call,)),
                ChatMessage("tool", "1. Ferry: 14 dollars", tool_call_id="call_1")]
    turns = tool_turns(messages, native=True, tools=[WEB_SEARCH])
    assert turns == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "(call connected)"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "How much is the ferry?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "id": "call_1", "function": {"name": "web_search",
                                                              "arguments": {"query": "ferry fares"}}}]},
        {"role": "tool", "content": "1. Ferry: 14 dollars"},
    ]


def test_a_template_without_tools_gets_them_described_and_calls_written_as_text() -> None:
    call = ToolCall("web_search", {"query": "ferry fares"}, "call_1")
    messages = [ChatMessage("system", "Be brief."), ChatMessage("user", "How much is the ferry?"),
                ChatMessage("assistant", "Let me see.", tool_calls=(call,)),
                ChatMessage("tool", "1. Ferry: 14 dollars", tool_call_id="call_1")]
    system, user, assistant, result = tool_turns(messages, native=False, tools=[WEB_SEARCH])
    assert system["content"].startswith("Be brief.\n\n# Tools") and '"name": "web_search"' in system["content"]
    assert user == {"role": "user", "content": "How much is the ferry?"}
    assert assistant == {"role": "assistant", "content": 'Let me see.\n<tool_call>\n{"name": "web_search", '
                                                         '"arguments": {"query": "ferry fares"}}\n</tool_call>'}
    assert result == {"role": "user", "content": "<tool_response>\n1. Ferry: 14 dollars\n</tool_response>"}


def test_a_tools_arguments_are_constrained_to_its_schema_by_a_grammar() -> None:
    pytest.importorskip("llama_cpp")
    from streaming.engines.llama_llm import json_grammar

    schema = arguments_schema(WEB_SEARCH)
    assert schema["additionalProperties"] is False and schema["required"] == ["query"]
    json_grammar(schema, "test")  # builds (raises EngineError for a schema the grammar cannot express)
    json_grammar(arguments_schema(END_CALL), "test")


@pytest.fixture(scope="module")
def qwen() -> Any:
    pytest.importorskip("llama_cpp")
    from streaming.engines.llama_llm import LlamaLlm
    from streaming.engines.llama_models import ModelFileError

    try:
        return LlamaLlm("qwen2.5-coder-0.5b")
    except (ModelFileError, ModuleNotFoundError) as error:
        pytest.skip(f"the packaged Qwen2.5-Coder-0.5B is not installed here: {error}")


RECEPTIONIST = ("You are speaking on a live phone call. Reply in one or two short spoken sentences.\n\n"
                "## Role\nYou are the receptionist of Bright Smile Dental. Hours: Monday to Friday 9am to 5pm.")


@pytest.mark.slow
def test_the_local_model_calls_web_search_with_a_valid_query_and_answers_from_the_result(qwen: Any) -> None:
    assert isinstance(qwen, ToolLlm)
    history = [ChatMessage("system", RECEPTIONIST), ChatMessage("assistant", "Bright Smile Dental, hello."),
               ChatMessage("user", "How much is the ferry to Gull Island?")]
    options = LlmOptions(temperature=0.2, max_tokens=60)
    got = asyncio.run(collect(qwen.stream_with_tools(history, [WEB_SEARCH, END_CALL], options)))
    chosen, call = got  # a decision made under the grammar: the choice, then the call, and nothing spoken
    assert chosen == ToolChosen("web_search")
    assert isinstance(call, ToolCall) and call.name == "web_search"
    assert set(call.arguments) == {"query"} and 0 < len(call.arguments["query"]) <= 120, call
    assert "ferry" in call.arguments["query"].lower(), call
    result = "1. Gull Island ferry: fares: A round trip costs 14 dollars for adults and 7 dollars for children."
    history += [ChatMessage("assistant", "", tool_calls=(call,)), ChatMessage("tool", result, tool_call_id=call.id)]
    answer = asyncio.run(collect(qwen.stream_with_tools(history, [WEB_SEARCH, END_CALL], options)))
    text = "".join(piece for piece in answer if isinstance(piece, str))
    assert all(isinstance(piece, str) for piece in answer) and "14" in text, answer
    assert "<tool" not in text


@pytest.mark.slow
def test_the_local_model_ends_the_call_with_the_end_call_tool(qwen: Any) -> None:
    history = [ChatMessage("system", RECEPTIONIST), ChatMessage("assistant", "Bright Smile Dental, hello."),
               ChatMessage("user", "Thanks, that's all. Goodbye!")]
    got = asyncio.run(collect(qwen.stream_with_tools(history, [WEB_SEARCH, END_CALL], LlmOptions(temperature=0.2))))
    assert [item.name for item in got if isinstance(item, ToolCall)] == ["end_call"], got


# ------------------------------------------------------------------------------------------- Bedrock: wire format

def tool_use_events() -> list[bytes]:
    """A ConverseStream answer that says a few words, then calls a tool (input streamed in two pieces)."""
    return [
        event("messageStart", {"role": "assistant"}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Let me check."}}),
        event("contentBlockStop", {"contentBlockIndex": 0}),
        event("contentBlockStart", {"contentBlockIndex": 1,
                                    "start": {"toolUse": {"toolUseId": "tooluse_abc123", "name": "web_search"}}}),
        event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"query": "Gull'}}}),
        event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": ' Island ferry"}'}}}),
        event("contentBlockStop", {"contentBlockIndex": 1}),
        event("messageStop", {"stopReason": "tool_use"}),
        event("metadata", {"usage": {"inputTokens": 50, "outputTokens": 20, "totalTokens": 70},
                           "metrics": {"latencyMs": 300}}),
    ]


def test_bedrock_offers_tools_and_yields_a_streamed_tool_use_as_a_tool_call(fake_aws) -> None:  # noqa: F811  # the fixture
    server = fake_aws(lambda req: eventstream_reply(tool_use_events()))
    llm = BedrockLlm(MODEL, client=client_for("bedrock-runtime", server))
    assert isinstance(llm, ToolLlm)
    history = [ChatMessage("system", "Be brief."), ChatMessage("user", "How much is the Gull Island ferry?")]

    got = asyncio.run(collect(llm.stream_with_tools(history, [WEB_SEARCH, END_CALL], LlmOptions())))

    assert got == ["Let me check.", ToolChosen("web_search"),  # as the toolUse block starts
                   ToolCall("web_search", {"query": "Gull Island ferry"}, "tooluse_abc123")]
    body = server.requests[0].json()
    assert body["toolConfig"] == {"tools": [
        {"toolSpec": {"name": "web_search", "description": "Search the web.",
                      "inputSchema": {"json": WEB_SEARCH.parameters}}},
        {"toolSpec": {"name": "end_call", "description": "Hang up.", "inputSchema": {"json": END_CALL.parameters}}},
    ]}


def test_bedrock_sends_the_tool_use_and_its_result_back_on_the_next_request(fake_aws) -> None:  # noqa: F811  # the fixture
    answer = [event("messageStart", {"role": "assistant"}),
              event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "It is 14 dollars."}}),
              event("contentBlockStop", {"contentBlockIndex": 0}), event("messageStop", {"stopReason": "end_turn"})]
    server = fake_aws(lambda req: eventstream_reply(answer))
    llm = BedrockLlm(MODEL, client=client_for("bedrock-runtime", server))
    call = ToolCall("web_search", {"query": "Gull Island ferry"}, "tooluse_abc123")
    history = [ChatMessage("system", "Be brief."), ChatMessage("user", "How much is the Gull Island ferry?"),
               ChatMessage("assistant", "Let me check.", tool_calls=(call,)),
               ChatMessage("tool", "1. Ferry: 14 dollars a round trip", tool_call_id="tooluse_abc123"),
               ChatMessage("assistant", "", tool_calls=(ToolCall("web_search", {"query": "x"}, "tooluse_2"),)),
               ChatMessage("tool", "The search failed: timeout.", tool_call_id="tooluse_2", tool_error=True)]

    got = asyncio.run(collect(llm.stream_with_tools(history, [WEB_SEARCH], LlmOptions())))

    assert got == ["It is 14 dollars."]
    assert server.requests[0].json()["messages"] == [
        {"role": "user", "content": [{"text": "How much is the Gull Island ferry?"}]},
        {"role": "assistant", "content": [
            {"text": "Let me check."},
            {"toolUse": {"toolUseId": "tooluse_abc123", "name": "web_search", "input": {"query": "Gull Island ferry"}}},
        ]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "tooluse_abc123", "status": "success",
                                                     "content": [{"text": "1. Ferry: 14 dollars a round trip"}]}}]},
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "tooluse_2", "name": "web_search",
                                                       "input": {"query": "x"}}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "tooluse_2", "status": "error",
                                                     "content": [{"text": "The search failed: timeout."}]}}]},
    ]


def test_plain_text_histories_keep_their_converse_shape() -> None:
    request = build_converse_request([ChatMessage("user", "Hi."), ChatMessage("user", "A cleaning.")], LlmOptions(),
                                     MODEL)
    assert request["messages"] == [{"role": "user", "content": [{"text": "Hi.\nA cleaning."}]}]
    assert "toolConfig" not in request


def test_bedrock_drops_a_tool_use_whose_input_is_not_json(fake_aws) -> None:  # noqa: F811  # the fixture
    events = tool_use_events()
    events[5] = event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": " Isl"}}})
    server = fake_aws(lambda req: eventstream_reply(events))
    llm = BedrockLlm(MODEL, client=client_for("bedrock-runtime", server))
    got = asyncio.run(collect(llm.stream_with_tools([ChatMessage("user", "Ferry?")], [WEB_SEARCH], LlmOptions())))
    assert got == ["Let me check.", ToolChosen("web_search")]  # chosen, but no call comes of it


# ------------------------------------------------------------------------------------------- instant: scripted

def test_the_instant_engine_calls_web_search_on_its_trigger_and_answers_from_the_result() -> None:
    llm = InstantLlm()
    asked = [ChatMessage("user", "Could you look up the Gull Island ferry fares?")]
    [call] = asyncio.run(collect(llm.stream_with_tools(asked, [WEB_SEARCH], LlmOptions())))
    assert call.name == "web_search" and call.arguments == {"query": "the gull island ferry fares"}
    answered = [*asked, ChatMessage("assistant", "", tool_calls=(call,)),
                ChatMessage("tool", "1. Gull Island ferry: A round trip costs 14 dollars. (harborline.example.com)",
                            tool_call_id=call.id)]
    text = "".join(asyncio.run(collect(llm.stream_with_tools(answered, [WEB_SEARCH], LlmOptions()))))
    assert text == "Here is what I found: Gull Island ferry: A round trip costs 14 dollars."
    assert json.dumps(text)  # plain text
