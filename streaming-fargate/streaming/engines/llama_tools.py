"""Tool calls on llama.cpp: :class:`~streaming.engines.base.ToolLlm` for the local engine (``LlamaLlm``).

Format. Tool calls are written the Qwen2.5 / Hermes way, ``<tool_call>\\n{"name": ..., "arguments": {...}}\\n
</tool_call>``, and results come back as ``<tool_response>...</tool_response>`` in a user turn. A gguf whose
chat template knows tools (it mentions ``tools`` and ``tool_call``) renders the tools, the assistant's calls and
the results itself; for any other template the tools are described in the system prompt in that same format and
calls/results are written into the turns as text.

Constraint. Small local models (0.5B and below) almost never choose to call a tool on their own (Qwen2.5-Coder-
0.5B: 0 calls in 10 questions that needed one), yet they pick the right tool fairly well when asked to pick one.
So, unless the last message is a tool result (then the model answers), a reply starts with a **decision**: the
prompt is followed by the forced opener ``<tool_call>\\n{"name": "`` and a GBNF grammar lets the model write only
one of the tools' names or ``answer`` (a pseudo-tool, offered in the tool list as "answer the caller yourself").
A tool's **arguments** are then sampled under a grammar built from its ``parameters`` schema (so they are valid
JSON of that shape); ``answer`` drops the decision and generates the reply as free text from the same prompt (the
KV cache holds it: the decision costs a few tokens). Once a tool's result is in, the model answers in words, made
to start with the tool's ``answer_lead_in`` when it has one ("From what I found,": without it Qwen2.5-Coder-0.5B
repeated the welcome message instead of answering from the results, every time we tried with a full agent
prompt). Words after a decision or a result are sampled under a grammar that excludes ``{`` and ``<`` (a small
model that has seen tool calls writes more of them as bare JSON otherwise). Without the decision step
(``decide=False``, for models that call tools on their own) free text is scanned for a ``<tool_call>`` opener:
the text before it is yielded (spoken), the opener and what follows never are, and the call's name and arguments
are then generated under the grammars as above. Output that does not parse is dropped (no call).
"""
from __future__ import annotations

import json
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Sequence
from typing import Any, cast

from .base import ChatMessage, LlmOptions, ToolCall, ToolChosen, ToolSpec
from .worker_stream import on_worker

OPENING_USER_TURN = "(call connected)"  # stands in for the caller when the agent spoke first (as in llama_llm)
GrammarFor = Callable[[dict[str, Any], str], Any]  # llama_llm.json_grammar: a JSON schema -> a LlamaGrammar

TOOL_OPEN = "<tool_call>"
TOOL_CLOSE = "</tool_call>"
DECISION_PREFIX = TOOL_OPEN + '\n{"name": "'
ANSWER = ToolSpec("answer", "Answer the caller yourself, without any other tool: greetings, small talk, questions "
                  "your instructions answer, or anything you can answer from the conversation.",
                  {"type": "object", "properties": {}})
MAX_ARGUMENT_TOKENS = 96


def openai_tools(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    """Tools as chat templates expect them (the OpenAI ``tools`` shape)."""
    return [{"type": "function", "function": {"name": t.name, "description": t.description,
                                              "parameters": t.parameters}} for t in tools]


def template_supports_tools(template: str) -> bool:
    return "tools" in template and "tool_call" in template


def call_text(call: ToolCall) -> str:
    return f'{TOOL_OPEN}\n{{"name": {json.dumps(call.name)}, "arguments": {json.dumps(call.arguments)}}}\n{TOOL_CLOSE}'


def plain_tools_block(tools: Sequence[ToolSpec]) -> str:
    """The tools described in words, for a template that cannot render them (same call format)."""
    lines = "\n".join(json.dumps(tool) for tool in openai_tools(tools))
    return ("# Tools\n\nYou may call a function to help with the caller's request. The functions:\n<tools>\n"
            f"{lines}\n</tools>\n\nTo call one, write a JSON object with its name and arguments within "
            f'{TOOL_OPEN}{TOOL_CLOSE} tags:\n{TOOL_OPEN}\n{{"name": <function-name>, "arguments": <args-json-object>}}'
            f"\n{TOOL_CLOSE}")


def tool_turns(messages: list[ChatMessage], native: bool, tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    """Messages as chat-template input, tool calls and results included (see the module notes): system first
    (merged; with the tools described in words when not ``native``), then the turns starting with the user."""
    system = "\n\n".join(m.content.strip() for m in messages if m.role == "system" and m.content.strip())
    if not native and tools:
        system = f"{system}\n\n{plain_tools_block(tools)}".strip()
    turns: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        if m.role == "tool":
            if native:
                turns.append({"role": "tool", "content": m.content})
                continue
            turn: dict[str, Any] = {"role": "user", "content": f"<tool_response>\n{m.content}\n</tool_response>"}
        elif m.role == "assistant" and m.tool_calls:
            if native:
                turns.append({"role": "assistant", "content": m.content.strip(), "tool_calls": [
                    {"type": "function", "id": c.id, "function": {"name": c.name, "arguments": c.arguments}}
                    for c in m.tool_calls]})
                continue
            written = "\n".join(call_text(c) for c in m.tool_calls)
            turn = {"role": "assistant", "content": f"{m.content.strip()}\n{written}".strip()}
        elif not m.content.strip():
            continue
        else:
            turn = {"role": m.role, "content": m.content.strip()}
        last = turns[-1] if turns else None
        if (last is not None and last["role"] == turn["role"] and "tool_calls" not in last
                and last["role"] in ("user", "assistant")):
            last["content"] += "\n" + turn["content"]
        else:
            turns.append(turn)
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": OPENING_USER_TURN})
    return ([{"role": "system", "content": system}] if system else []) + turns


class OpenerScanner:
    """Cuts streamed text at a ``<tool_call>`` opener: what comes before it is released as it arrives (less any
    tail that could be the start of the opener), the opener and everything after it are held back."""

    def __init__(self) -> None:
        self._held = ""
        self.opened = False
        self.before = ""  # all the text released, for the prompt of the call that follows

    def push(self, piece: str) -> str:
        if self.opened:
            return ""
        text = self._held + piece
        at = text.find(TOOL_OPEN)
        if at >= 0:
            self.opened = True
            self._held = ""
            return self._release(text[:at])
        keep = 0
        for size in range(min(len(TOOL_OPEN) - 1, len(text)), 0, -1):
            if TOOL_OPEN.startswith(text[-size:]):
                keep = size
                break
        self._held = text[len(text) - keep:] if keep else ""
        return self._release(text[:len(text) - keep])

    def flush(self) -> str:
        held, self._held = ("" if self.opened else self._held), ""
        return self._release(held)

    def _release(self, text: str) -> str:
        self.before += text
        return text


def name_grammar(names: Sequence[str]) -> Any:
    """GBNF: one of ``names`` followed by the closing quote of the ``"name"`` string."""
    from llama_cpp import LlamaGrammar

    choices = " | ".join(json.dumps(name) for name in names)
    return LlamaGrammar.from_string(f'root ::= ({choices}) "\\""', verbose=False)


def text_grammar() -> Any:
    """GBNF: text without ``{`` or ``<`` (no JSON, no tags: what a caller hears)."""
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_string("root ::= [^{<]+", verbose=False)


def arguments_schema(tool: ToolSpec) -> dict[str, Any]:
    """The tool's parameters as a closed object schema (no properties the tool does not define)."""
    schema = dict(tool.parameters or {"type": "object"})
    schema.setdefault("type", "object")
    schema.setdefault("properties", {})
    schema.setdefault("additionalProperties", False)
    return schema


def lead_in(messages: list[ChatMessage], tools: dict[str, ToolSpec]) -> str:
    """The ``answer_lead_in`` of the tool whose successful result ends ``messages`` ("" for none or a failure)."""
    last = messages[-1]
    if last.role != "tool" or last.tool_error:
        return ""
    for message in reversed(messages):
        for call in message.tool_calls:
            if call.id == last.tool_call_id:
                spec = tools.get(call.name)
                return (spec.answer_lead_in or "") if spec is not None else ""
    return ""


def parse_arguments(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text, strict=False)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:16]}"


class ToolGeneration:
    """One reply with tools, on the engine's worker thread under its lock (see the module notes)."""

    def __init__(self, engine: Any, messages: list[ChatMessage], tools: Sequence[ToolSpec],
                 options: LlmOptions, cancel: threading.Event, json_grammar: GrammarFor, *,
                 decide: bool = True) -> None:
        self.engine = engine  # a LlamaLlm (its model, lock, worker thread, KV state cache and chat template)
        self.json_grammar = json_grammar
        self.llama = engine.llama
        self.tools = {tool.name: tool for tool in tools}
        self.options = options
        self.cancel = cancel
        self.answering = messages[-1].role == "tool"  # a tool's result is in: the model answers with it
        self.decide = decide and bool(tools) and not self.answering
        # the same tool list every round, so the rendered system prompt (and its KV cache) is shared; ``answer``
        # first: listed last, Qwen2.5-Coder-0.5B searched for 3 of 3 questions its instructions answered, first 1 of 3
        offered = [ANSWER, *tools] if decide and tools else list(tools)
        formatter = engine.formatter  # the engine's chat template (from the gguf)
        self.native = template_supports_tools(formatter.template)
        turns: Any = tool_turns(messages, self.native, offered)  # llama-cpp types messages and tools as
        described: Any = openai_tools(offered) if self.native and offered else None  # its own TypedDicts
        self.prompt = formatter(messages=turns, tools=described).prompt
        self.decision: str | None = None  # the name chosen by the decision step, if any
        self.lead_in = lead_in(messages, self.tools) if self.answering else ""

    def run(self) -> Iterator[str | ToolCall | ToolChosen]:
        if self.cancel.is_set():
            return
        with self.engine.lock:  # the context is not thread-safe (see LlamaLlm)
            try:
                self.engine.states.restore_best(self.llama, self._tokens(self.prompt))
                if self.decide:
                    self.decision = self._complete(self.prompt + DECISION_PREFIX, name_grammar([*self.tools, "answer"]),
                                                   8).rstrip('"')
                    if self.decision in self.tools:
                        yield ToolChosen(self.decision)
                        call = self._call(self.prompt, self.decision)
                        if call is not None:
                            yield call
                            return
                yield from self._free_text()
            finally:
                self.engine.states.save(self.llama)

    def prefill(self) -> None:
        """Evaluate the prompt (as a reply with these tools would render it) and keep its KV state."""
        if self.cancel.is_set():
            return
        with self.engine.lock:  # the context is not thread-safe (see LlamaLlm)
            tokens = self._tokens(self.prompt)
            self.engine.states.restore_best(self.llama, tokens)
            for _ in self._stream(tokens, None, 1, temperature=0.0):
                pass
            self.engine.states.save(self.llama)

    def _free_text(self) -> Iterator[str | ToolCall | ToolChosen]:
        scanner = OpenerScanner()
        # After a decision (or a tool's result) the reply is words: a small model that has seen tool calls tends
        # to write more of them as bare JSON, so markup openers are kept out by a grammar.
        grammar = text_grammar() if self.decide or self.answering else None
        if self.lead_in:
            yield self.lead_in
        chunks = self._stream(self._tokens(self.prompt + self.lead_in), grammar, self.options.max_tokens)
        try:
            for chunk in chunks:
                if self.cancel.is_set():
                    return
                released = scanner.push(chunk["choices"][0]["text"])
                if released:
                    yield released
                if scanner.opened:
                    break
        finally:
            chunks.close()
        if not scanner.opened:
            rest = scanner.flush()
            if rest:
                yield rest
            return
        prefix = self.prompt + scanner.before
        name = self._complete(prefix + DECISION_PREFIX, name_grammar(list(self.tools)), 8).rstrip('"')
        if name in self.tools:
            yield ToolChosen(name)
            call = self._call(prefix, name)
            if call is not None:
                yield call

    def _call(self, prefix: str, name: str) -> ToolCall | None:
        """The arguments of ``name`` sampled under its schema's grammar, after its opener and name."""
        tool = self.tools[name]
        text = self._complete(f'{prefix}{DECISION_PREFIX}{name}", "arguments": ',
                              self.json_grammar(arguments_schema(tool), self.engine.name), MAX_ARGUMENT_TOKENS)
        arguments = parse_arguments(text)
        return None if arguments is None else ToolCall(name, arguments, new_call_id())

    def _complete(self, text: str, grammar: Any, max_tokens: int) -> str:
        chunks = self._stream(self._tokens(text), grammar, max_tokens, temperature=0.0)
        pieces: list[str] = []
        try:
            for chunk in chunks:
                if self.cancel.is_set():
                    return ""
                pieces.append(chunk["choices"][0]["text"])
        finally:
            chunks.close()
        return "".join(pieces)

    def _stream(self, tokens: list[int], grammar: Any, max_tokens: int,
                temperature: float | None = None) -> Generator[dict[str, Any], None, None]:
        # stream=True: a generator of chunk dicts (the library's return type is a union with the
        # non-streaming response).
        return cast(Generator[dict[str, Any], None, None], self.llama.create_completion(
            tokens, stream=True, max_tokens=max_tokens,
            temperature=self.options.temperature if temperature is None else temperature,
            stop=list(self.engine.spec.stop), grammar=grammar,
        ))

    def _tokens(self, text: str) -> list[int]:
        # as LlamaLlm.prompt_tokens: the jinja formatter's prompt carries its own special tokens (no BOS added)
        return self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)


async def stream_with_tools(engine: Any, messages: list[ChatMessage], tools: Sequence[ToolSpec],
                            options: LlmOptions, json_grammar: GrammarFor, *,
                            decide: bool = True) -> AsyncIterator[str | ToolCall | ToolChosen]:
    """``LlamaLlm.stream_with_tools``: a :class:`ToolGeneration` on the engine's worker thread, its pieces
    handed to the event loop as they come; closing the iterator stops it within a token."""
    def produce(cancel: threading.Event) -> Iterator[str | ToolCall | ToolChosen]:
        return ToolGeneration(engine, messages, tools, options, cancel, json_grammar, decide=decide).run()

    async for item in on_worker(engine.worker, produce):
        yield item


def prefill_with_tools(engine: Any, messages: list[ChatMessage], tools: Sequence[ToolSpec],
                       json_grammar: GrammarFor) -> None:
    """Blocking (the engine's worker thread): ``LlamaLlm.prefill_with_tools``."""
    ToolGeneration(engine, messages, tools, LlmOptions(max_tokens=1, temperature=0.0), threading.Event(),
                   json_grammar).prefill()
