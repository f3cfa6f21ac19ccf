"""Local LLM with llama.cpp (``llama-cpp-python``): Qwen2.5-Coder-0.5B-Instruct (the default), SmolLM2-135M-Instruct,
or any instruct gguf by path.

Which file is loaded, its checksum and its chat template (read from the gguf) are
:mod:`streaming.engines.llama_models`' job (model files come from PyPI packages; nothing is downloaded at run time).

One ``Llama`` (one context, one KV cache) per process, shared by every call: llama.cpp contexts are
not thread-safe, so generation runs in a single worker thread and calls take turns. Tokens cross to
the event loop through an ``asyncio.Queue`` (``call_soon_threadsafe``); closing the async generator
sets a flag the worker checks between tokens, so an interrupted reply frees the model within one token.

Prompt reuse. Prompt evaluation is the cost that matters here: ~100-130 tokens/s on these 2 cores, so a
~400-token agent prompt takes 3-5 s to evaluate from scratch. Two mechanisms avoid re-evaluating it:

- ``Llama.generate`` keeps the KV cache of the previous prompt + reply and only evaluates the new prompt
  after the longest common prefix. A call's turn N+1 prompt extends its turn N prompt + reply, so when
  no other call used the model in between, only the new user turn (and template glue) is evaluated.
- With several calls interleaving, the context holds someone else's conversation. After each reply the
  engine therefore saves *its sequence's* KV (``llama_state_seq_get_data``: ~23 KB per token for
  SmolLM2, ~10 MB for a 450-token conversation, a few ms) in a small LRU keyed by the token sequence;
  before the next reply it restores the saved state with the longest common prefix when that beats
  what the context currently holds (``llama_state_seq_set_data``). ``LlamaRAMCache`` does the same but
  also copies the ``n_batch x vocabulary`` logits buffer on every save (~50 MB), hence this leaner one.

JSON answers (``complete_json``, post-call analysis) are sampled under a GBNF grammar built from the JSON
schema, so the output is valid JSON of that shape whenever it finishes within ``max_tokens``. They take
the same worker thread and lock as replies, and their KV state is deliberately *not* saved: a one-off
analysis prompt would only evict live calls' conversations from the LRU. A call whose context the
analysis displaced gets it back from the LRU on its next turn, exactly as after another call's turn.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import json
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Generator, Sequence
from pathlib import Path
from typing import Any, cast

from .base import ChatMessage, LlmOptions, ToolCall, ToolChosen, ToolSpec
from .errors import EngineError
from .llama_models import DEFAULT_LOCAL_LLM, prefer_passive_openmp_waits, resolve
from .worker_stream import on_worker

OPENING_USER_TURN = "(call connected)"  # stands in for the caller when the agent spoke first


def chat_turns(messages: list[ChatMessage]) -> list[dict[str, str]]:
    """Messages as chat-template input: system first (merged), then alternating user/assistant turns
    starting with the user (strict templates such as Gemma's reject anything else)."""
    system = "\n\n".join(m.content.strip() for m in messages if m.role == "system" and m.content.strip())
    turns: list[dict[str, str]] = []
    for m in messages:
        if m.role == "system" or not m.content.strip():
            continue
        if turns and turns[-1]["role"] == m.role:
            turns[-1]["content"] += "\n" + m.content.strip()
        else:
            turns.append({"role": m.role, "content": m.content.strip()})
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": OPENING_USER_TURN})
    return ([{"role": "system", "content": system}] if system else []) + turns


class SequenceStateCache:
    """LRU of saved KV states of sequence 0, keyed by the tokens they hold, bounded in bytes."""

    def __init__(self, capacity_bytes: int) -> None:
        self.capacity_bytes = capacity_bytes
        self._entries: OrderedDict[tuple[int, ...], bytes] = OrderedDict()
        self._size = 0
        self.hits = 0

    def __len__(self) -> int:
        return len(self._entries)

    def save(self, llama: Any) -> None:
        """Remember what the context holds now (call after a reply, under the model lock)."""
        import llama_cpp

        tokens = tuple(int(t) for t in llama.input_ids[: llama.n_tokens])
        if not tokens or self.capacity_bytes <= 0:
            return
        ctx = llama._ctx.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(ctx, buffer, size, 0)
        data = bytes(memoryview(buffer)[:written])
        # an entry that is a prefix of the new one is superseded by it
        for key in [k for k in self._entries if len(k) <= len(tokens) and tokens[: len(k)] == k]:
            self._size -= len(self._entries.pop(key))
        self._entries[tokens] = data
        self._size += len(data)
        while self._size > self.capacity_bytes and len(self._entries) > 1:
            _, evicted = self._entries.popitem(last=False)
            self._size -= len(evicted)

    def restore_best(self, llama: Any, prompt: list[int], min_gain: int = 8) -> int:
        """Load the saved state sharing the longest prefix with ``prompt`` if it beats the live context by
        ``min_gain`` tokens; returns the prefix length now reusable."""
        import llama_cpp

        live = _common_prefix(llama.input_ids[: llama.n_tokens].tolist(), prompt)
        best_key, best = None, live
        for key in self._entries:
            shared = _common_prefix(key, prompt)
            if shared > best:
                best_key, best = key, shared
        if best_key is None or best < live + min_gain:
            return live
        data = self._entries[best_key]
        self._entries.move_to_end(best_key)
        llama._ctx.kv_cache_clear()
        buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        if llama_cpp.llama_state_seq_set_data(llama._ctx.ctx, buffer, len(data), 0) != len(data):
            llama.reset()
            return 0
        llama.input_ids[: len(best_key)] = best_key
        llama.n_tokens = len(best_key)
        llama._requires_eval = True
        self.hits += 1
        return best


def _common_prefix(a: Any, b: Any) -> int:
    count = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        count += 1
    return count




def grammar_schema(schema: Any) -> Any:
    """``schema`` with every ``"type": [a, b, ...]`` rewritten as ``anyOf`` of single types.

    llama-cpp-python's converter turns a type list into a union of bare types and so drops keywords
    such as ``maxLength``; the ``anyOf`` form keeps each bound on the branch it applies to (an
    unbounded string would let a small model ramble until ``max_tokens`` and cut the JSON)."""
    if isinstance(schema, list):
        return [grammar_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: grammar_schema(value) for key, value in schema.items()}
    types = converted.get("type")
    if isinstance(types, list):
        rest = {key: value for key, value in converted.items() if key != "type"}
        converted = {"anyOf": [{"type": "null"} if t == "null" else {"type": t, **rest} for t in types]}
    return converted


# llama-cpp-python's string character rule admits raw control characters (a newline inside a string),
# which JSON forbids; llama.cpp's own converter excludes them, as this replacement does.
_LOOSE_CHAR_RULE = r'char ::= [^"\\] |'
_JSON_CHAR_RULE = r'char ::= [^"\\\x7F\x00-\x1F] |'


def json_grammar(schema: dict[str, Any], engine: str) -> Any:
    """The GBNF grammar accepting exactly the JSON documents of ``schema`` (built in a few ms at most)."""
    from llama_cpp import LlamaGrammar
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        gbnf = json_schema_to_gbnf(json.dumps(grammar_schema(schema)))
    except Exception as exc:  # the converter asserts on constructs it does not support
        raise EngineError(f"schema not expressible as a grammar: {type(exc).__name__}: {exc}", engine=engine,
                          code="UnsupportedSchema") from exc
    return LlamaGrammar.from_string(gbnf.replace(_LOOSE_CHAR_RULE, _JSON_CHAR_RULE), verbose=False)


def parse_json_object(text: str, finish_reason: str | None, engine: str) -> dict[str, Any]:
    """The object a grammar-constrained completion produced; an answer cut by ``max_tokens`` is an
    error (the grammar only guarantees valid JSON when generation reaches its end). Raw control
    characters inside strings are tolerated (``strict=False``) should a llama-cpp-python upgrade bring
    back a character rule that admits them."""
    if finish_reason == "length":
        raise EngineError(f"output cut at max_tokens after {len(text)} characters", engine=engine,
                          code="MaxTokens")
    try:
        value = json.loads(text, strict=False)
    except json.JSONDecodeError as exc:
        raise EngineError(f"output is not JSON ({exc.msg} at character {exc.pos})", engine=engine,
                          code="InvalidJson") from exc
    if not isinstance(value, dict):
        raise EngineError(f"output is a JSON {type(value).__name__}, not an object", engine=engine,
                          code="InvalidJson")
    return value


class LlamaLlm:
    """LlmEngine on llama.cpp. ``model`` (also the engine ``name``) is a packaged model's name or a gguf path
    (:func:`streaming.engines.llama_models.resolve`)."""

    def __init__(self, model: str = DEFAULT_LOCAL_LLM, *, model_path: str | Path | None = None, n_ctx: int = 2048,
                 n_threads: int = 2, n_threads_batch: int = 2, n_batch: int = 256, state_cache_mb: int = 256,
                 warm_up: bool = True) -> None:
        """``n_threads`` generates tokens, ``n_threads_batch`` evaluates prompts. Two for both: the first phrase
        is on the critical path (Qwen2.5 0.5B here: 16.8 tok/s on one thread, ~30 on two), and the TTS of the
        first phrase overlapping the rest of the reply is off it."""
        prefer_passive_openmp_waits()  # before llama_cpp loads libgomp
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.name = model
        self.spec = resolve(model, model_path)  # verified file, its chat template and stop markers
        self.llama = Llama(model_path=str(self.spec.path), n_ctx=n_ctx, n_threads=n_threads,
                           n_threads_batch=n_threads_batch, n_batch=n_batch, verbose=False)
        model_ = self.llama._model
        eos, bos = self.llama.token_eos(), self.llama.token_bos()
        self.formatter = Jinja2ChatFormatter(
            template=self.spec.chat_template,
            eos_token=model_.token_get_text(eos) if eos != -1 else "",
            bos_token=model_.token_get_text(bos) if bos != -1 else "",
        )
        self.states = SequenceStateCache(state_cache_mb << 20)
        # The context is not thread-safe: everything that touches it (replies, JSON answers, tool generations in
        # ``llama_tools``, the warm-up) runs on ``worker``, one thread, under ``lock``. One thread also for speed:
        # each thread that enters llama.cpp gets an OpenMP team of its own, and once two teams exist every token
        # costs ~50% more (Qwen2.5 0.5B, 2 threads: 38 -> 56 ms a token, measured 2026-12-07).
        self.lock = threading.Lock()
        self.worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"llama-{model}")
        if warm_up:  # on the worker: see ``worker`` above
            self.worker.submit(self._prefill_sync, [ChatMessage("user", "Hi")]).result()

    async def stream(self, messages: list[ChatMessage], options: LlmOptions) -> AsyncIterator[str]:
        async for piece in on_worker(self.worker, lambda cancel: self._generate_sync(messages, options, cancel)):
            yield piece

    def _generate_sync(self, messages: list[ChatMessage], options: LlmOptions, cancel: threading.Event):
        """Worker: yield text pieces until done, ``max_tokens``, a stop sequence or ``cancel``."""
        if cancel.is_set():
            return
        with self.lock:
            prompt = self.prompt_tokens(messages)
            self.states.restore_best(self.llama, prompt)
            chunks = cast(Generator[dict[str, Any], None, None], self.llama.create_completion(
                prompt, stream=True, max_tokens=options.max_tokens, temperature=options.temperature,
                stop=list(self.spec.stop),
            ))  # stream=True: a generator of chunk dicts
            try:
                for chunk in chunks:
                    if cancel.is_set():
                        return
                    piece = chunk["choices"][0]["text"]
                    if piece:
                        yield piece
            finally:
                chunks.close()
                self.states.save(self.llama)

    def stream_with_tools(self, messages: list[ChatMessage], tools: Sequence[ToolSpec],
                          options: LlmOptions) -> AsyncIterator[str | ToolCall | ToolChosen]:
        """:class:`~streaming.engines.base.ToolLlm`: see :mod:`streaming.engines.llama_tools`."""
        from .llama_tools import stream_with_tools

        return stream_with_tools(self, messages, tools, options, json_grammar)

    async def prefill_with_tools(self, messages: list[ChatMessage], tools: Sequence[ToolSpec]) -> None:
        """:meth:`prefill` for a call whose replies offer ``tools`` (they render into the system prompt)."""
        from .llama_tools import prefill_with_tools

        await asyncio.get_running_loop().run_in_executor(self.worker, prefill_with_tools, self, messages, tools,
                                                         json_grammar)

    async def prefill(self, messages: list[ChatMessage]) -> None:
        """Evaluate ``messages`` now and keep their KV, so the first reply after them starts fast.

        A 400-token agent prompt takes seconds to evaluate on 2 cores; call this when the call connects
        (system prompt + welcome message) while the welcome message plays.
        """
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.worker, self._prefill_sync, messages)

    def _prefill_sync(self, messages: list[ChatMessage]) -> None:
        for _ in self._generate_sync(messages, LlmOptions(max_tokens=1, temperature=0.0), threading.Event()):
            pass

    def prompt_tokens(self, messages: list[ChatMessage]) -> list[int]:
        """The chat rendered with the model's own template (from the gguf), tokenized."""
        rendered = self.formatter(messages=chat_turns(messages))  # type: ignore[arg-type]  # llama-cpp's formatter types messages as its own TypedDicts
        return self.llama.tokenize(rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special,
                                   special=True)

    @property
    def context_tokens(self) -> int:
        """Tokens the context holds (prompt and output together): callers size long inputs by it."""
        return int(self.llama.n_ctx())

    async def complete_json(self, messages: list[ChatMessage], schema: dict[str, Any],
                            options: LlmOptions) -> dict[str, Any]:
        """:class:`~streaming.engines.base.JsonLlm`: one grammar-constrained answer, parsed.

        Runs in the model's worker thread under its lock (calls' replies wait meanwhile, as they wait for
        each other). Cancelling the awaiting task stops generation at the next token; prompt evaluation
        already under way finishes first (llama.cpp cannot stop mid-batch)."""
        grammar = json_grammar(schema, self.name)
        loop = asyncio.get_running_loop()
        cancel = threading.Event()
        try:
            text, finish = await loop.run_in_executor(self.worker, self._json_sync, messages, grammar, options,
                                                      cancel)
        finally:
            cancel.set()
        return parse_json_object(text, finish, self.name)

    def _json_sync(self, messages: list[ChatMessage], grammar: Any, options: LlmOptions,
                   cancel: threading.Event) -> tuple[str, str | None]:
        """Worker: the constrained completion's text and finish reason. Leaves ``states`` untouched (see
        the module notes): no restore (no call's conversation prefixes this prompt) and no save."""
        if cancel.is_set():
            return "", "cancelled"
        with self.lock:
            prompt = self.prompt_tokens(messages)
            if len(prompt) + options.max_tokens > self.context_tokens:
                raise EngineError(f"prompt of {len(prompt)} tokens + max_tokens {options.max_tokens} exceed the "
                                  f"context of {self.context_tokens}", engine=self.name, code="ContextOverflow")
            # stream=True: a generator of chunk dicts (the library's return type is a union with the
            # non-streaming response).
            chunks = cast(Generator[dict[str, Any], None, None], self.llama.create_completion(
                prompt, stream=True, max_tokens=options.max_tokens, temperature=options.temperature,
                stop=list(self.spec.stop), grammar=grammar,
            ))
            pieces: list[str] = []
            finish: str | None = None
            try:
                for chunk in chunks:
                    if cancel.is_set():
                        return "".join(pieces), "cancelled"
                    choice = chunk["choices"][0]
                    pieces.append(choice["text"])
                    finish = choice.get("finish_reason") or finish
            finally:
                chunks.close()
            return "".join(pieces), finish

    def generate_text(
        self, messages: list[ChatMessage], options: LlmOptions | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Blocking helper (benchmarks, scripts): the whole reply and its timing."""
        started = time.perf_counter()
        first: float | None = None
        pieces: list[str] = []
        for piece in self._generate_sync(messages, options or LlmOptions(), threading.Event()):
            if first is None:
                first = time.perf_counter() - started
            pieces.append(piece)
        total = time.perf_counter() - started
        return "".join(pieces), {"first_token_s": first or total, "total_s": total, "pieces": len(pieces)}
