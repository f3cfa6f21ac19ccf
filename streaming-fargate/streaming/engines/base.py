"""One interface per engine kind. Every engine is loaded once per process and shared by all calls;
per-call state lives in the small session objects they hand out.

Audio everywhere is 16-bit little-endian mono PCM (``bytes``); each engine says its sample rate.
Blocking engines run their compute in a worker thread: no method here may block the event loop.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolCall:
    """The model asks for a tool: ``arguments`` follow the tool's ``parameters`` schema; ``id`` pairs the
    call with its result (Bedrock's ``toolUseId``; made up locally for engines that have none)."""

    name: str
    arguments: dict[str, Any]
    id: str


@dataclass(frozen=True)
class ToolChosen:
    """The model has chosen to call ``name``; its arguments are still being written. Lets the caller act on
    the choice at once (say a filler while a search's query is written); the :class:`ToolCall` follows, or
    nothing when the arguments come out invalid."""

    name: str


@dataclass(frozen=True)
class ChatMessage:
    """One message of the chat. Besides text, an ``assistant`` message may carry the tool calls it made
    (after its ``content``), and a ``tool`` message is the result of the call ``tool_call_id`` (``content``
    is the result as text; ``tool_error`` when the tool failed). Engines without tools never see either."""

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    tool_error: bool = False


@dataclass(frozen=True)
class LlmOptions:
    temperature: float = 0.7
    max_tokens: int = 160
    model: str | None = None  # engine-specific model id (e.g. a Bedrock model id); None = engine default


@dataclass
class EngineTiming:
    """Wall-clock compute of the last engine call, for per-turn metrics (seconds)."""

    compute_s: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class VadStream(Protocol):
    """Per-call voice activity state. ``chunk_samples`` samples at ``sample_rate`` go in per call."""

    sample_rate: int
    chunk_samples: int

    def speech_probability(self, pcm16: bytes) -> float:
        """Probability (0..1) that this chunk (exactly ``chunk_samples`` samples) is speech. Fast (< 2 ms)."""
        ...

    def reset(self) -> None: ...


class VadEngine(Protocol):
    name: str

    def new_stream(self) -> VadStream: ...


@runtime_checkable
class SttStream(Protocol):
    """One caller utterance being recognised.

    ``feed`` takes audio as it arrives (at the engine's ``sample_rate``); ``transcript()`` returns the
    text of everything fed so far (it may be awaited more than once as more audio arrives: a batch
    engine re-runs over the whole buffer, a streaming engine waits for its final result);
    ``close()`` releases the session.
    """

    def feed(self, pcm16: bytes) -> None: ...

    async def transcript(self) -> str: ...

    async def close(self) -> None: ...


class SttEngine(Protocol):
    name: str
    sample_rate: int  # the rate ``feed`` expects (16000 for every engine we have)
    streaming: bool  # True when the engine recognises while audio arrives

    def open(self, language: str = "en-US") -> SttStream: ...


class LlmEngine(Protocol):
    name: str

    def stream(self, messages: list[ChatMessage], options: LlmOptions) -> AsyncIterator[str]:
        """Yield the reply token by token (text pieces). Closing the iterator cancels generation."""
        ...


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model may call: ``parameters`` is the JSON schema (an object schema) of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]
    answer_lead_in: str | None = None  # words a small local model is made to start its answer with after this
    # tool's result (it otherwise tends to repeat earlier turns); engines that need no help ignore it


@runtime_checkable
class ToolLlm(Protocol):
    """Optional LLM capability: a reply that may call tools (callers check ``isinstance(engine, ToolLlm)``;
    engines without it get the plain :meth:`LlmEngine.stream` and text conventions instead)."""

    name: str

    def stream_with_tools(self, messages: list[ChatMessage], tools: Sequence[ToolSpec],
                          options: LlmOptions) -> AsyncIterator[str | ToolCall | ToolChosen]:
        """Yield the reply's text pieces as they come and a :class:`ToolCall` for each tool the model calls
        (its arguments complete and valid for the tool's schema as far as the engine can ensure; a call
        naming an unknown tool is never yielded), optionally preceded by a :class:`ToolChosen` as soon as the
        model has named the tool. Text after a tool call is not expected: the caller runs
        the tools, appends the assistant message (text + ``tool_calls``) and one ``tool`` message per call,
        and asks again. Closing the iterator cancels generation."""
        ...


@runtime_checkable
class JsonLlm(Protocol):
    """Optional LLM capability: one answer constrained to a JSON schema (post-call analysis).

    Separate from :class:`LlmEngine` because not every engine can guarantee structured output; callers
    check ``isinstance(engine, JsonLlm)`` and report the analysis as unsupported otherwise.
    """

    name: str

    async def complete_json(self, messages: list[ChatMessage], schema: dict[str, Any],
                            options: LlmOptions) -> dict[str, Any]:
        """The parsed JSON object answering ``messages``, shaped by ``schema`` (an object schema).

        ``options.max_tokens`` bounds the output: an answer cut short raises rather than returning a
        partial object. Raises :class:`~streaming.engines.errors.EngineError` on any failure (the
        provider's error, output that is not a JSON object). Cancelling the awaiting task abandons the
        request and frees the engine as soon as it can.
        """
        ...


class TurnEndEngine(Protocol):
    """Semantic end of turn: judges from the caller's audio whether they have finished speaking."""

    name: str
    sample_rate: int  # the rate of the audio ``complete_probability`` takes (16000)

    async def complete_probability(self, pcm16: bytes) -> float:
        """Probability (0..1) that the turn whose audio (ending now) is ``pcm16`` is complete."""
        ...


class TtsEngine(Protocol):
    name: str
    sample_rate: int

    def synthesize(self, text: str, voice_id: str | None = None, speed: float = 1.0) -> AsyncIterator[bytes]:
        """Yield PCM16 chunks of ``text`` spoken, at ``sample_rate``, as soon as each is ready.
        Closing the iterator cancels synthesis."""
        ...
