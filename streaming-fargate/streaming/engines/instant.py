"""Instant engines for load tests: no model, no compute, answers at once.

The capacity benchmark runs hundreds of concurrent calls in one process; these engines take the
models out of the picture so what is measured is the pipeline itself (framing, queues, timers,
transports). Every answer is deterministic.
"""
from __future__ import annotations

import asyncio
import copy
import itertools
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

import numpy as np

from .base import ChatMessage, LlmOptions, ToolCall, ToolSpec

DEFAULT_TRANSCRIPT = "I would like to book an appointment for tomorrow morning."
DEFAULT_REPLY = "Sure, I can help you with that. What time suits you best?"


class InstantSttStream:
    """Buffers nothing; ``transcript()`` returns the configured text (empty if nothing was fed)."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._fed_bytes = 0

    def feed(self, pcm16: bytes) -> None:
        self._fed_bytes += len(pcm16)

    async def transcript(self) -> str:
        return self._text if self._fed_bytes else ""

    async def close(self) -> None:
        return None


class InstantStt:
    """SttEngine that "recognises" a fixed text as soon as any audio was fed."""

    name = "instant"
    sample_rate = 16000
    streaming = True

    def __init__(self, text: str = DEFAULT_TRANSCRIPT) -> None:
        self.text = text

    def open(self, language: str = "en-US") -> InstantSttStream:
        return InstantSttStream(self.text)


DEFAULT_JSON_TEXT = "instant"
SEARCH_TRIGGER = "look up"  # a caller turn with these words makes the instant LLM call web_search (when offered)
GOODBYE_TRIGGER = "goodbye"  # ... and these, end_call (after its goodbye)
GOODBYE = "Thank you for calling, goodbye."
FOUND = "Here is what I found:"
NOT_FOUND = "Sorry, I couldn't look that up right now."
_SITE = re.compile(r"\s*\([^()]*\)\s*$")
_call_ids = itertools.count(1)


def example_for_schema(schema: Any, text: str = DEFAULT_JSON_TEXT) -> Any:
    """A deterministic value valid for the (simple) JSON ``schema``: the first ``enum``/``anyOf``/type
    choice, every object property, ``text`` cut to ``maxLength`` for strings, empty arrays, zeros."""
    if not isinstance(schema, dict):
        return None
    if "const" in schema:
        return copy.deepcopy(schema["const"])
    if schema.get("enum"):
        return copy.deepcopy(schema["enum"][0])
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return example_for_schema(schema[key][0], text)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        return {name: example_for_schema(sub, text) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "string":
        limit = schema.get("maxLength")
        return text[:limit] if isinstance(limit, int) else text
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return 0
    if kind == "boolean":
        return False
    return None


class InstantLlm:
    """LlmEngine that yields a fixed reply word by word, with no delay between words.

    ``complete_json`` answers ``json_reply`` when given (a copy), else an example built from the schema
    (:func:`example_for_schema`), so load tests exercise post-call analysis with no model."""

    name = "instant"

    def __init__(self, reply: str = DEFAULT_REPLY, json_reply: dict[str, Any] | None = None) -> None:
        self.reply = reply
        self.json_reply = json_reply

    async def complete_json(self, messages: list[ChatMessage], schema: dict[str, Any],
                            options: LlmOptions) -> dict[str, Any]:
        await asyncio.sleep(0)  # yield once, as a real engine would
        if self.json_reply is not None:
            return copy.deepcopy(self.json_reply)
        value = example_for_schema(schema)
        return value if isinstance(value, dict) else {}

    async def stream(self, messages: list[ChatMessage], options: LlmOptions) -> AsyncIterator[str]:
        async for word in self._words(self.reply, options):
            yield word

    async def stream_with_tools(self, messages: list[ChatMessage], tools: Sequence[ToolSpec],
                                options: LlmOptions) -> AsyncIterator[str | ToolCall]:
        """A scripted tool user (:class:`~streaming.engines.base.ToolLlm`) for pipeline tests:

        - the caller's last words hold :data:`SEARCH_TRIGGER` and ``web_search`` is offered: it is called with
          the words after the trigger as the query;
        - they hold :data:`GOODBYE_TRIGGER` and ``end_call`` is offered: :data:`GOODBYE`, then ``end_call``;
        - after a search's result: :data:`FOUND` and the first result's text (its line ``1. Title: snippet
          (site)``, the site left out), or :data:`NOT_FOUND` after a failed search;
        - otherwise the fixed reply, as :meth:`stream`.
        """
        offered = {tool.name for tool in tools}
        last = messages[-1] if messages else ChatMessage("user", "")
        if last.role == "tool":
            first = next((line for line in last.content.splitlines() if line.startswith("1. ")), None)
            if last.tool_error:
                text = NOT_FOUND
            elif first is not None:
                text = f"{FOUND} {_SITE.sub('', first[3:])}"
            else:
                text = GOODBYE if "goodbye" in last.content.lower() else self.reply
            async for word in self._words(text, options):
                yield word
            return
        said = last.content.lower() if last.role == "user" else ""
        if "web_search" in offered and SEARCH_TRIGGER in said:
            query = said.split(SEARCH_TRIGGER, 1)[1].strip(" ?.!") or said
            await asyncio.sleep(0)
            yield ToolCall("web_search", {"query": query}, f"instant-{next(_call_ids)}")
            return
        if "end_call" in offered and GOODBYE_TRIGGER in said:
            async for word in self._words(GOODBYE, options):
                yield word
            yield ToolCall("end_call", {}, f"instant-{next(_call_ids)}")
            return
        async for word in self._words(self.reply, options):
            yield word

    async def _words(self, text: str, options: LlmOptions) -> AsyncIterator[str]:
        words = text.split(" ")
        for index, word in enumerate(words[: max(1, options.max_tokens)]):
            yield word if index == 0 else " " + word
            await asyncio.sleep(0)  # let other calls run, as a real engine would


class InstantTts:
    """TtsEngine that yields a quiet tone lasting ``ms_per_char`` per character of text, at the
    telephone rate by default (as Polly can: no resampling on the way to the carrier).

    The audio is produced in ``chunk_ms`` pieces, all at once (no pacing): the transport is the
    one that paces playback.
    """

    name = "instant"

    def __init__(self, sample_rate: int = 8000, ms_per_char: float = 60.0, chunk_ms: int = 200,
                 frequency_hz: float = 440.0, amplitude: int = 3000) -> None:
        self.sample_rate = sample_rate
        self.ms_per_char = ms_per_char
        self.chunk_ms = chunk_ms
        period = np.arange(sample_rate, dtype=np.float32) / sample_rate  # one second of tone, reused
        self._tone = (amplitude * np.sin(2 * np.pi * frequency_hz * period)).astype("<i2").tobytes()

    def duration_samples(self, text: str, speed: float = 1.0) -> int:
        """Samples produced for ``text`` (``ms_per_char`` per character, divided by ``speed``)."""
        return int(len(text) * self.ms_per_char / 1000 * self.sample_rate / max(speed, 0.1))

    async def synthesize(self, text: str, voice_id: str | None = None, speed: float = 1.0) -> AsyncIterator[bytes]:
        remaining = self.duration_samples(text, speed)
        chunk = max(1, self.sample_rate * self.chunk_ms // 1000)
        position = 0
        while remaining > 0:
            count = min(chunk, remaining, self.sample_rate - position)
            yield self._tone[position * 2:(position + count) * 2]
            position = (position + count) % self.sample_rate
            remaining -= count
            await asyncio.sleep(0)
