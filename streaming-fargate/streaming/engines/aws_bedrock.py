"""Amazon Bedrock LLM engine, through the Converse streaming API.

API: ``bedrock-runtime`` ``ConverseStream`` (``POST /model/{modelId}/converse-stream``; boto3
``converse_stream``). The reply is an event stream (``application/vnd.amazon.eventstream``) of
``messageStart``, ``contentBlockStart``, ``contentBlockDelta`` (``delta.text``), ``contentBlockStop``,
``messageStop`` (``stopReason``) and ``metadata`` (``usage``, ``metrics.latencyMs``) events; errors
after the stream has started arrive as exception events (``throttlingException``,
``validationException``, ``modelStreamErrorException``, ...). See
https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html

Converse wants strictly alternating ``user``/``assistant`` messages starting with ``user`` and no blank
text blocks; :func:`build_converse_request` shapes our chat history accordingly.

JSON answers (``complete_json``, post-call analysis) use the non-streaming ``Converse`` API
(``POST /model/{modelId}/converse``) with one tool whose ``inputSchema.json`` is the wanted schema and
``toolChoice`` forcing that tool: the answer is the tool call's ``input`` object
(``output.message.content[].toolUse.input``). See
https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html and
https://docs.aws.amazon.com/bedrock/latest/userguide/tool-use-inference-call.html
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from .aws_common import CancelToken, abort_http_body, iterate_in_thread
from .base import ChatMessage, LlmOptions, ToolCall, ToolChosen, ToolSpec
from .errors import EngineError, from_aws_error

log = logging.getLogger("parley.streaming.engines")

DEFAULT_MODEL_ID = "amazon.nova-micro-v1:0"
CALL_CONNECTED = "(call connected)"  # stands in for the caller when the agent spoke first


def default_model_id() -> str:
    return os.environ.get("PARLEY_BEDROCK_MODEL_ID") or DEFAULT_MODEL_ID


def build_converse_request(
    messages: list[ChatMessage], options: LlmOptions, model_id: str, *, opening_user_turn: str = CALL_CONNECTED
) -> dict[str, Any]:
    """The ``converse_stream`` keyword arguments for a chat history.

    - ``system`` messages (wherever they are) become ``system`` blocks, in order;
    - blank messages are dropped (Converse rejects blank text blocks);
    - an assistant message's tool calls become ``toolUse`` blocks after its text; a ``tool`` message becomes a
      user turn's ``toolResult`` block (``status`` error when the tool failed);
    - consecutive messages of the same role are merged (text joined by a newline, other blocks appended);
    - a history that starts with the assistant (the welcome message) gets ``opening_user_turn`` first.
    """
    system = [{"text": m.content} for m in messages if m.role == "system" and m.content.strip()]
    turns: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        role, blocks = converse_blocks(m)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            content = turns[-1]["content"]
            if "text" in content[-1] and "text" in blocks[0]:
                content[-1]["text"] += "\n" + blocks.pop(0)["text"]
            content.extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": [{"text": opening_user_turn}]})
    request: dict[str, Any] = {
        "modelId": options.model or model_id,
        "messages": turns,
        "inferenceConfig": {"maxTokens": int(options.max_tokens), "temperature": float(options.temperature)},
    }
    if system:
        request["system"] = system
    return request


def converse_blocks(message: ChatMessage) -> tuple[str, list[dict[str, Any]]]:
    """A (non-system) message as a Converse role and its content blocks (none for a blank message)."""
    if message.role == "tool":
        result = {"toolUseId": message.tool_call_id or "", "content": [{"text": message.content or "(empty)"}],
                  "status": "error" if message.tool_error else "success"}
        return "user", [{"toolResult": result}]
    blocks: list[dict[str, Any]] = [{"text": message.content}] if message.content.strip() else []
    blocks += [{"toolUse": {"toolUseId": call.id, "name": call.name, "input": call.arguments}}
               for call in message.tool_calls]
    return message.role, blocks


def tool_config(tools: Sequence[ToolSpec]) -> dict[str, Any]:
    """``toolConfig`` offering ``tools`` (the model chooses whether to call one: ``toolChoice`` auto)."""
    return {"tools": [{"toolSpec": {"name": t.name, "description": t.description,
                                    "inputSchema": {"json": t.parameters}}} for t in tools]}


class ToolUseAssembler:
    """Collects streamed ``toolUse`` blocks: ``contentBlockStart.start.toolUse`` opens one (id, name) at its
    ``contentBlockIndex``, ``contentBlockDelta.delta.toolUse.input`` pieces add to its JSON input, and
    ``contentBlockStop`` finishes it into a :class:`ToolCall` (input that is not a JSON object is dropped)."""

    def __init__(self) -> None:
        self._open: dict[int, tuple[str, str, list[str]]] = {}

    def start(self, event: dict[str, Any]) -> str | None:
        """Open a tool's block; its name (None when the block is not a tool's)."""
        use = (event.get("start") or {}).get("toolUse")
        if not use:
            return None
        name = str(use.get("name", ""))
        self._open[int(event.get("contentBlockIndex", 0))] = (use.get("toolUseId", ""), name, [])
        return name

    def delta(self, event: dict[str, Any]) -> bool:
        """Take a delta's tool input piece; False when the delta is not a tool's."""
        use = (event.get("delta") or {}).get("toolUse")
        block = self._open.get(int(event.get("contentBlockIndex", 0)))
        if use is None or block is None:
            return False
        block[2].append(use.get("input", ""))
        return True

    def stop(self, event: dict[str, Any]) -> ToolCall | None:
        block = self._open.pop(int(event.get("contentBlockIndex", 0)), None)
        if block is None:
            return None
        tool_id, name, pieces = block
        text = "".join(pieces).strip() or "{}"
        try:
            arguments = json.loads(text)
        except json.JSONDecodeError:
            log.warning("bedrock tool call %s with unreadable input dropped", name)
            return None
        return ToolCall(name, arguments, tool_id) if isinstance(arguments, dict) and name else None


JSON_TOOL_NAME = "record_answer"
JSON_TOOL_DESCRIPTION = "Record your answer. Its input is the complete answer, following the schema exactly."


def build_json_request(messages: list[ChatMessage], schema: dict[str, Any], options: LlmOptions, model_id: str, *,
                       opening_user_turn: str = CALL_CONNECTED) -> dict[str, Any]:
    """The ``converse`` keyword arguments asking for one JSON object shaped by ``schema``: the chat as
    :func:`build_converse_request` shapes it, plus a single tool carrying the schema, forced by
    ``toolChoice`` so the model cannot answer in prose."""
    request = build_converse_request(messages, options, model_id, opening_user_turn=opening_user_turn)
    request["toolConfig"] = {
        "tools": [{"toolSpec": {"name": JSON_TOOL_NAME, "description": JSON_TOOL_DESCRIPTION,
                                "inputSchema": {"json": schema}}}],
        "toolChoice": {"tool": {"name": JSON_TOOL_NAME}},
    }
    return request


def tool_input(response: dict[str, Any], engine: str) -> dict[str, Any]:
    """The forced tool call's ``input`` from a ``converse`` response; an answer cut by ``maxTokens`` or
    without the tool call is an error (a partial object would pass for a complete one)."""
    stop_reason = response.get("stopReason")
    if stop_reason == "max_tokens":
        raise EngineError("output cut at maxTokens", engine=engine, code="MaxTokens")
    content = ((response.get("output") or {}).get("message") or {}).get("content") or []
    for block in content:
        use = block.get("toolUse") if isinstance(block, dict) else None
        if use and use.get("name") == JSON_TOOL_NAME:
            value = use.get("input")
            if not isinstance(value, dict):
                raise EngineError(f"tool input is a {type(value).__name__}, not an object", engine=engine,
                                  code="InvalidJson")
            return value
    raise EngineError(f"the model did not call the answer tool (stopReason {stop_reason})", engine=engine,
                      code="NoToolUse")


class BedrockLlm:
    """:class:`~streaming.engines.base.LlmEngine` on Bedrock ``ConverseStream``.

    One instance per process; the boto3 client is created on first use (thread-safe, shared by every
    call). Pass ``client`` to use a preconfigured one (tests point it at a local server).
    """

    name = "bedrock"

    def __init__(
        self,
        model_id: str | None = None,
        *,
        region: str | None = None,
        client: Any | None = None,
        opening_user_turn: str = CALL_CONNECTED,
    ) -> None:
        self.model_id = model_id or default_model_id()
        self._region = region
        self._client = client
        self._client_lock = threading.Lock()
        self._opening_user_turn = opening_user_turn

    @property
    def client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                # Fail fast: a voice turn cannot wait for boto3's default 60 s timeouts and 4 retries.
                config = Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 2})
                self._client = boto3.client("bedrock-runtime", region_name=self._region, config=config)
            return self._client

    async def stream(self, messages: list[ChatMessage], options: LlmOptions) -> AsyncIterator[str]:
        """Yield the reply's text pieces (``contentBlockDelta.delta.text``) as Bedrock streams them.

        Raises :class:`EngineError` on throttling, validation and model errors (``retryable`` set for
        throttling and 5xx). Closing the iterator aborts the HTTP response and ends the worker thread.
        """
        request = build_converse_request(messages, options, self.model_id, opening_user_turn=self._opening_user_turn)
        async for piece in self._stream(request):
            if isinstance(piece, str):
                yield piece

    async def stream_with_tools(self, messages: list[ChatMessage], tools: Sequence[ToolSpec],
                                options: LlmOptions) -> AsyncIterator[str | ToolCall | ToolChosen]:
        """:class:`~streaming.engines.base.ToolLlm`: the request carries ``toolConfig``; text pieces stream as
        they come; a ``toolUse`` block yields a :class:`ToolChosen` when it starts and a :class:`ToolCall` once
        complete (stop reason ``tool_use``). Results go back as ``toolResult`` blocks
        (:func:`build_converse_request`)."""
        request = build_converse_request(messages, options, self.model_id, opening_user_turn=self._opening_user_turn)
        if tools:
            request["toolConfig"] = tool_config(tools)
        async for item in self._stream(request):
            yield item

    async def _stream(self, request: dict[str, Any]) -> AsyncIterator[str | ToolCall | ToolChosen]:
        try:
            async for piece in iterate_in_thread(
                lambda token: self._events(request, token), thread_name="parley-bedrock"
            ):
                yield piece
        except EngineError:
            raise
        except Exception as exc:
            raise from_aws_error(self.name, exc) from exc

    async def complete_json(self, messages: list[ChatMessage], schema: dict[str, Any],
                            options: LlmOptions) -> dict[str, Any]:
        """:class:`~streaming.engines.base.JsonLlm` over ``Converse`` with a forced tool (see the module
        notes). The blocking call runs in its own daemon thread; cancelling the awaiting task abandons
        it (the thread ends when the HTTP call does, bounded by the client's read timeout)."""
        request = build_json_request(messages, schema, options, self.model_id,
                                     opening_user_turn=self._opening_user_turn)
        try:
            responses = [r async for r in iterate_in_thread(lambda token: self._converse(request),
                                                            thread_name="parley-bedrock")]
        except EngineError:
            raise
        except Exception as exc:
            raise from_aws_error(self.name, exc) from exc
        return tool_input(responses[0], self.name)

    def _converse(self, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Worker thread: one ``converse`` call (the client is built here too, off the event loop)."""
        response = self.client.converse(**request)
        log.debug("bedrock %s json: stop=%s usage=%s latency_ms=%s", request["modelId"], response.get("stopReason"),
                  response.get("usage"), (response.get("metrics") or {}).get("latencyMs"))
        yield response

    def _events(self, request: dict[str, Any], token: CancelToken) -> Iterator[str | ToolCall | ToolChosen]:
        """Worker thread: call ConverseStream and yield text deltas, a tool's name as soon as its block starts,
        and finished tool calls until
        ``messageStop``/end of stream.
        (The client is built here, off the event loop: the first ``boto3.client`` call loads JSON models.)"""
        response = self.client.converse_stream(**request)
        event_stream = response["stream"]
        token.on_cancel(lambda: abort_http_body(event_stream))
        stop_reason: str | None = None
        tools = ToolUseAssembler()
        try:
            for event in event_stream:
                if token.cancelled:
                    return
                if "contentBlockDelta" in event:
                    if tools.delta(event["contentBlockDelta"]):
                        continue
                    text = event["contentBlockDelta"].get("delta", {}).get("text")
                    if text:
                        yield text
                elif "contentBlockStart" in event:
                    name = tools.start(event["contentBlockStart"])
                    if name:
                        yield ToolChosen(name)
                elif "contentBlockStop" in event:
                    call = tools.stop(event["contentBlockStop"])
                    if call is not None:
                        yield call
                elif "messageStop" in event:
                    stop_reason = event["messageStop"].get("stopReason")
                elif "metadata" in event:
                    meta = event["metadata"]
                    log.debug(
                        "bedrock %s: stop=%s usage=%s latency_ms=%s",
                        request["modelId"],
                        stop_reason,
                        meta.get("usage"),
                        meta.get("metrics", {}).get("latencyMs"),
                    )
        finally:
            event_stream.close()
        if stop_reason is None and not token.cancelled:
            raise EngineError(
                "stream ended without messageStop", engine=self.name, code="IncompleteStream", retryable=True
            )
        if stop_reason in ("guardrail_intervened", "content_filtered"):
            log.info("bedrock reply cut short: %s", stop_reason)
