"""Post-call analysis: a summary, the caller's sentiment and the agent's extracted variables, from the
transcript of a finished call, in one structured LLM answer.

The LLM is asked for one JSON object through :class:`~streaming.engines.base.JsonLlm` (llama.cpp samples
it under a grammar built from the schema; Bedrock fills a forced tool's input), then the object is checked
here anyway: engines differ in how strictly they hold to a schema, and a webhook consumer must never get a
sentiment outside the three documented values or keys the agent did not ask for.

Analysis never raises (except when its own task is cancelled): whatever fails, the call's record still
gets an :class:`Analysis` with what exists and ``errors`` saying what did not work.

A call in which the caller never said anything (no user turn with text: unanswered, voicemail greeting
only, hung up during the welcome message) is not sent to the LLM: there is nothing to summarise or
extract, and a model asked anyway invents a conversation. Such a call gets ``summary``/``sentiment``
None, every variable None and the error :data:`NO_CONVERSATION`.
"""
from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from streaming.engines.base import ChatMessage, JsonLlm, LlmOptions
from streaming.engines.errors import EngineError

log = logging.getLogger("parley.streaming.analysis")

SENTIMENTS = ("positive", "neutral", "negative")
SUMMARY_MAX_CHARS = 300
VALUE_MAX_CHARS = 100
VARIABLE_PROMPT_MAX_CHARS = 300  # a variable's prompt as shown to the model (keeps 50 variables affordable)
MAX_VARIABLES = 50  # as many as an agent may configure
DEFAULT_TIMEOUT_S = 20.0
# Transcript size for engines that do not say their context size (Bedrock: every model has >= 32k tokens).
DEFAULT_TRANSCRIPT_CHARS = 24_000
MIN_TRANSCRIPT_CHARS = 200  # below this, a summary of the call is not worth asking for
MIN_OUTPUT_TOKENS = 64  # below this, not even a short summary fits
CHARS_PER_TOKEN = 2.5  # conservative (SmolLM2 measured ~3.3 on transcripts): sizing never overflows the context
TEMPLATE_TOKENS = 64  # chat-template glue around the two messages
HEAD_SHARE = 0.4  # of a truncated transcript, the part kept from the start (why they called); the rest is the end
NO_CONVERSATION = "no conversation to analyze: the caller never spoke"
KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")  # as the API validates ExtractedVariable.key
SPEAKERS = {"user": "Caller", "agent": "Agent"}

INSTRUCTIONS = (
    "You analyse a finished phone call between a voice agent and a caller, from its transcript. "
    "Answer with one JSON object:\n"
    '- "summary": one or two sentences: why the caller called and how the call ended.\n'
    '- "sentiment": the caller\'s overall mood: "positive", "neutral" or "negative".\n'
    '- "extracted_variables": {variables_rule}'
)


@dataclass
class Analysis:
    """The analysis of one call. ``extracted_variables`` has every configured key (None when unknown);
    ``errors`` is empty when everything worked; ``engine`` is the LLM engine's name; ``compute_ms`` the
    wall time of :func:`analyze`; ``transcript_truncated`` says the middle of a long call was left out."""

    summary: str | None
    sentiment: str | None
    extracted_variables: dict[str, Any]
    errors: list[str]
    engine: str
    compute_ms: float
    transcript_truncated: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Variable:
    key: str
    prompt: str


async def analyze(transcript: list[dict[str, Any]], variables: list[dict[str, Any]], llm: Any, *,
                  options: LlmOptions | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                  max_transcript_chars: int | None = None) -> Analysis:
    """Analyse a finished call's ``transcript`` (``Turn.to_json()`` items: ``role`` "user"/"agent",
    ``text``, ...) for the agent's ``variables`` (``[{"key", "prompt"}]``) with ``llm``.

    ``options``: ``model`` and ``temperature`` are used as given (default: the engine's model,
    temperature 0); ``max_tokens`` is raised to what the answer's schema needs (and capped by a small
    context, see :func:`plan_budget`). ``timeout_s`` bounds the whole LLM call, queueing for a shared
    local model included. ``max_transcript_chars`` overrides the transcript size, otherwise derived from
    the engine's ``context_tokens`` when it has one.
    """
    started = time.perf_counter()
    engine = str(getattr(llm, "name", None) or type(llm).__name__)
    try:
        return await _analyze(transcript, variables, llm, engine, started, options, timeout_s, max_transcript_chars)
    except Exception as exc:  # a bug here must not break the end of a call either (logged with traceback)
        log.exception("post-call analysis crashed")
        return Analysis(summary=None, sentiment=None, extracted_variables={},
                        errors=[f"analysis failed: internal error ({type(exc).__name__})"], engine=engine,
                        compute_ms=round((time.perf_counter() - started) * 1000, 1))


async def _analyze(transcript: list[dict[str, Any]], variables: list[dict[str, Any]], llm: Any, engine: str,
                   started: float, options: LlmOptions | None, timeout_s: float,
                   max_transcript_chars: int | None) -> Analysis:
    parsed, notes = parse_variables(variables)
    keys = [v.key for v in parsed]

    def result(*errors: str, summary: str | None = None, sentiment: str | None = None,
               values: dict[str, Any] | None = None, truncated: bool = False) -> Analysis:
        return Analysis(summary=summary, sentiment=sentiment,
                        extracted_variables=values if values is not None else dict.fromkeys(keys),
                        errors=[*notes, *errors], engine=engine,
                        compute_ms=round((time.perf_counter() - started) * 1000, 1), transcript_truncated=truncated)

    if not has_conversation(transcript):
        return result(NO_CONVERSATION)
    if not isinstance(llm, JsonLlm):
        return result(f"analysis not supported: LLM engine {engine!r} cannot produce structured output")

    base = options or LlmOptions(temperature=0.0)
    instructions = build_instructions(parsed)
    max_tokens, budget = plan_budget(llm, instructions, max(base.max_tokens, output_token_budget(keys)))
    if max_transcript_chars is not None:
        budget = max_transcript_chars
    if budget < MIN_TRANSCRIPT_CHARS or max_tokens < MIN_OUTPUT_TOKENS:
        return result("analysis failed: the variables' prompts leave no room for the transcript in the model's "
                      "context")
    run_options = LlmOptions(temperature=base.temperature, model=base.model, max_tokens=max_tokens)
    text, truncated = render_transcript(transcript, budget)
    messages = [ChatMessage("system", instructions), ChatMessage("user", f"Transcript:\n{text}")]

    try:
        raw = await asyncio.wait_for(llm.complete_json(messages, analysis_schema(keys), run_options), timeout_s)
    except TimeoutError:  # asyncio.TimeoutError is this builtin since 3.11
        return _failed(result, f"analysis failed: timeout after {timeout_s:g} s", truncated)
    except EngineError as exc:
        return _failed(result, f"analysis failed: {exc}", truncated)
    except Exception as exc:  # analysis must never break the end of a call
        return _failed(result, f"analysis failed: {type(exc).__name__}: {exc}", truncated)
    summary, sentiment, values, errors = read_output(raw, keys)
    return result(*errors, summary=summary, sentiment=sentiment, values=values, truncated=truncated)


def _failed(result: Callable[..., Analysis], error: str, truncated: bool) -> Analysis:
    """The analysis of a call whose LLM step failed: the error alone, logged without call content
    (transcripts are personal data)."""
    error = error[:300]
    log.warning("post-call analysis: %s", error)
    return result(error, truncated=truncated)


def parse_variables(variables: list[dict[str, Any]] | None) -> tuple[list[Variable], list[str]]:
    """The usable ``{"key", "prompt"}`` entries, in order, and an error for each one ignored (bad or
    repeated key, past :data:`MAX_VARIABLES`). A missing prompt falls back to the key: still askable."""
    found: list[Variable] = []
    errors: list[str] = []
    for index, item in enumerate(variables or []):
        key = item.get("key") if isinstance(item, dict) else None
        if not isinstance(key, str) or not KEY_PATTERN.match(key):
            errors.append(f"variable #{index + 1} ignored: invalid key")
        elif any(v.key == key for v in found):
            errors.append(f"variable {key!r} ignored: duplicate key")
        elif len(found) >= MAX_VARIABLES:
            errors.append(f"variable {key!r} ignored: more than {MAX_VARIABLES} variables")
        else:
            prompt = item.get("prompt")
            found.append(Variable(key, _one_line(prompt if isinstance(prompt, str) and prompt.strip() else key)))
    return found, errors


def has_conversation(transcript: list[dict[str, Any]] | None) -> bool:
    """Whether the caller said anything (see the module notes)."""
    return any(isinstance(t, dict) and t.get("role") == "user" and str(t.get("text") or "").strip()
               for t in transcript or [])


def analysis_schema(keys: list[str]) -> dict[str, Any]:
    """The answer's JSON schema. Every string is bounded (``maxLength``) so a grammar-constrained small
    model cannot ramble past ``max_tokens`` and cut the JSON; every property is required, so the answer
    always has the same shape; variables are ``string`` or ``null`` (not said in the call)."""
    value = {"type": ["string", "null"], "maxLength": VALUE_MAX_CHARS}
    return {
        "type": "object",
        "properties": {
            "summary": {"type": "string", "maxLength": SUMMARY_MAX_CHARS},
            "sentiment": {"type": "string", "enum": list(SENTIMENTS)},
            "extracted_variables": {"type": "object", "properties": {key: dict(value) for key in keys},
                                    "required": list(keys), "additionalProperties": False},
        },
        "required": ["summary", "sentiment", "extracted_variables"],
        "additionalProperties": False,
    }


def output_token_budget(keys: list[str]) -> int:
    """``max_tokens`` for the answer: room for the bounded strings at ~2 characters a token (English runs
    ~4) plus the JSON around them. A budget at 1 character a token would always fit but leaves a small
    local context little room for the transcript; the timeout bounds the cost either way."""
    per_key = [math.ceil(len(key) / 2) + 8 + VALUE_MAX_CHARS // 2 for key in keys]
    return 48 + SUMMARY_MAX_CHARS // 2 + sum(per_key)


def build_instructions(variables: list[Variable]) -> str:
    """The system message: fixed text first (a local model reuses its KV across analyses), then the
    agent's variables."""
    if not variables:
        return INSTRUCTIONS.format(variables_rule="an empty object {}.")
    lines = [f"- {v.key}: {v.prompt[:VARIABLE_PROMPT_MAX_CHARS]}" for v in variables]
    rule = ("one value per key below, as said in the call; null when the call does not say it.\n\n"
            "Keys to extract:\n" + "\n".join(lines))
    return INSTRUCTIONS.format(variables_rule=rule)


def plan_budget(llm: Any, instructions: str, wanted_tokens: int) -> tuple[int, int]:
    """``(max_tokens, transcript characters)`` for ``llm``.

    Engines that say their ``context_tokens`` (the local model: 2048) share what the instructions leave
    between the answer and the transcript, the answer taking at most half (many variables on a small
    model: a verbose answer may then be cut, which is reported, rather than no room for the call at
    all). Engines that do not (Bedrock: >= 32k tokens) get ``wanted_tokens`` and
    :data:`DEFAULT_TRANSCRIPT_CHARS`."""
    context = getattr(llm, "context_tokens", None)
    if not isinstance(context, int) or context <= 0:
        return wanted_tokens, DEFAULT_TRANSCRIPT_CHARS
    free = context - TEMPLATE_TOKENS - math.ceil(len(instructions) / CHARS_PER_TOKEN)
    max_tokens = max(0, min(wanted_tokens, free // 2))
    return max_tokens, max(0, min(DEFAULT_TRANSCRIPT_CHARS, int((free - max_tokens) * CHARS_PER_TOKEN)))


def render_transcript(transcript: list[dict[str, Any]], max_chars: int) -> tuple[str, bool]:
    """The transcript as ``Speaker: text`` lines within ``max_chars``, and whether anything was cut.

    Too long a call keeps its start (why the caller called) and its end (the outcome), with a marker
    saying how many turns were left out between; a single very long turn is cut to a quarter of the
    budget first so that it cannot crowd out everything else."""
    line_cap = max(20, max_chars // 4)
    lines: list[str] = []
    clipped = False
    for turn in transcript:
        text = _one_line(str(turn.get("text") or "")) if isinstance(turn, dict) else ""
        if not text:
            continue
        role = str(turn.get("role") or "")
        line = f"{SPEAKERS.get(role, role.capitalize() or 'Unknown')}: {text}"
        if len(line) > line_cap:
            line, clipped = line[: line_cap - 1] + "…", True
        lines.append(line)
    if sum(len(line) + 1 for line in lines) <= max_chars:
        return "\n".join(lines), clipped
    marker_room = 40
    head = _fill(lines, int((max_chars - marker_room) * HEAD_SHARE))
    tail = _fill(lines[len(head):][::-1], max_chars - marker_room - sum(len(line) + 1 for line in head))[::-1]
    omitted = len(lines) - len(head) - len(tail)
    return "\n".join([*head, f"[... {omitted} turns left out ...]", *tail]), True


def _fill(lines: list[str], budget: int) -> list[str]:
    """The leading ``lines`` that fit ``budget`` characters (newlines counted)."""
    kept: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > budget:
            break
        kept.append(line)
        used += len(line) + 1
    return kept


def read_output(raw: Any, keys: list[str]) -> tuple[str | None, str | None, dict[str, Any], list[str]]:
    """Summary, sentiment, variables and errors from the model's object, trusting nothing: sentiment
    outside :data:`SENTIMENTS` -> None and an error; keys not asked for dropped; keys missing -> None
    (the same as the model saying null); over-long strings cut to the schema's bounds."""
    errors: list[str] = []
    data = raw if isinstance(raw, dict) else {}
    summary = _text(data.get("summary"), SUMMARY_MAX_CHARS)
    if summary is None:
        errors.append("invalid output: no summary")
    sentiment = normalize_sentiment(data.get("sentiment"))
    if "sentiment" not in data:
        errors.append("invalid output: no sentiment")
    elif sentiment is None:
        errors.append(f"invalid output: sentiment {_preview(data.get('sentiment'))} is not one of "
                      f"{', '.join(SENTIMENTS)}")
    found = data.get("extracted_variables")
    if not isinstance(found, dict):
        if keys:
            errors.append("invalid output: extracted_variables is not an object")
        found = {}
    values: dict[str, Any] = {}
    for key in keys:
        value = found.get(key)
        if value is not None and not isinstance(value, (str, int, float)):
            errors.append(f"invalid output: extracted_variables.{key} is a {type(value).__name__}")
            value = None
        values[key] = _text(value, VALUE_MAX_CHARS)
    return summary, sentiment, values, errors


def normalize_sentiment(value: Any) -> str | None:
    """``"Positive."`` -> ``"positive"``; anything not one of :data:`SENTIMENTS` -> None."""
    if not isinstance(value, str):
        return None
    word = value.strip().strip(".!\"'").strip().lower()
    return word if word in SENTIMENTS else None


def _text(value: Any, limit: int) -> str | None:
    """A model-provided scalar as trimmed text within ``limit`` characters; blank -> None."""
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value).strip()
    return text[:limit].rstrip() or None


def _one_line(text: str) -> str:
    """Whitespace runs (newlines included) as single spaces: a turn or a prompt cannot fake structure."""
    return " ".join(text.split())


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
