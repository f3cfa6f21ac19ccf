"""Conversation quality of the local LLMs (part of ``make bench``; ``python -m tests.bench.conversation_quality``).

A dental-clinic receptionist agent (the production prompt: ``streaming.pipeline.prompt.messages_for`` with
the agent's context blocks) answers scripted callers in a few calls; each caller turn has a keyword grader:
the reply must match every ``want`` pattern (it states the right fact, or asks the right question) and none
of the ``forbid`` patterns (a wrong fact). The agent's own replies stay in the history, as in a real call.
Then post-call analysis (``streaming.post_call_analysis.analyze``, the same engine's ``complete_json``)
runs on each call's transcript and is graded field by field (summary keywords, sentiment, variables; a
variable the caller never gave must come back empty).

Engines are used directly (no server). Before each call the system prompt + welcome message are prefilled
(as the pipeline does while the welcome plays), so "first token" is the cached-prompt figure; "prompt eval"
is measured separately, on the whole prompt from an empty context. Greedy decoding (temperature 0), so a
model's score is reproducible on the same build.

    python -m tests.bench.conversation_quality                       # the packaged models
    python -m tests.bench.conversation_quality --model /path/x.gguf  # any instruct gguf (repeatable)
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

FACTS = """\
Clinic: Bright Smile Dental. Dentist: Dr. Patel.
Address: 12 Elm Street, Springfield, next to the post office. Free parking behind the building.
Opening hours: Monday to Friday 8 am to 6 pm; Saturday 9 am to 1 pm; closed on Sunday.
Prices: check-up 60 dollars; cleaning 90 dollars; teeth whitening 250 dollars; filling from 120 dollars.
Insurance: we accept Delta Dental and Aetna.
Free appointment slots this week: Tuesday 10 am, Wednesday 3 pm, Friday 9 am. No other slots are free.
"""
ROLE = ("You are the receptionist of Bright Smile Dental. Answer the caller's question using only the facts "
        "below. If the caller wants an appointment, offer a free slot from the list and ask for their name. "
        "If you do not know something, say so.")
WELCOME = "Hello, Bright Smile Dental, how can I help you?"
VARIABLES = [
    {"key": "caller_name", "prompt": "The caller's full name, only if the caller said it."},
    {"key": "appointment_day", "prompt": "The weekday of the appointment the caller booked, if one was booked."},
    {"key": "service", "prompt": "The dental service the caller asked about or booked."},
]


@dataclass(frozen=True)
class Turn:
    caller: str
    want: tuple[str, ...]  # regexes, all must match (each may hold alternatives)
    forbid: tuple[str, ...] = ()  # regexes, none may match


@dataclass(frozen=True)
class Call:
    name: str
    turns: tuple[Turn, ...]
    summary: str  # regex the summary must match
    sentiments: tuple[str, ...]
    variables: dict[str, str | None]  # key -> regex its value must match; None: must be empty


NUM = r"(?<![\d.])"  # a number not inside a longer one
CALLS: tuple[Call, ...] = (
    Call("book a cleaning", (
        Turn("Hi, how much is a teeth cleaning?", (rf"{NUM}90\b|ninety",), (rf"{NUM}(60|250|120)\b",)),
        Turn("Okay. Do you have anything free on Wednesday?", (rf"{NUM}3\b|three|15:00",),
             (r"wednesday\W+(at\W+)?(10|9)\b", r"\bno\b.{0,20}(free|slot|available)")),
        Turn("Great, please book me in. My name is Maria Lopez.",
             (r"wednesday|\b3\b|three|book|confirm|schedul|see you|maria",), (r"tuesday|friday",)),
        Turn("Thanks, that's all. Bye!", (r"bye|welcome|thank|great day|nice day|see you|take care",)),
    ), summary=r"clean|appointment|book", sentiments=("positive", "neutral"),
        variables={"caller_name": r"maria|lopez", "appointment_day": r"wednesday", "service": r"clean"}),
    Call("hours and directions", (
        Turn("Are you open on Saturday?", (rf"{NUM}9\b|nine",), (r"closed on saturday|not open on saturday",)),
        Turn("And on Sunday?", (r"closed|not open|n't open|no\b",), (r"\byes\b",)),
        Turn("Where exactly are you located?", (r"elm",), ()),
        Turn("Is there somewhere to park?", (r"park",), (r"no parking|street parking|paid parking",)),
    ), summary=r"hour|open|saturday|sunday|locat|address|park|direction", sentiments=("positive", "neutral"),
        variables={"caller_name": None, "appointment_day": None}),
    Call("prices and insurance", (
        Turn("How much does teeth whitening cost?", (rf"{NUM}250\b|two hundred (and )?fifty",),
             (rf"{NUM}(90|60|120)\b",)),
        Turn("That's a lot. What about a regular check-up?", (rf"{NUM}60\b|sixty",), (rf"{NUM}(90|250)\b",)),
        Turn("Do you take Aetna insurance?", (r"\byes\b|accept|we take|aetna",),
             (r"\bno\b|do not|don't|not accept",)),
        Turn("Is anything free on Tuesday morning? This is John Smith.", (rf"{NUM}10\b|ten",),
             (r"tuesday\W+(at\W+)?(9|3)\b",)),
        Turn("Fine, book the check-up then.", (r"tuesday|\b10\b|ten|book|confirm|schedul|see you|john",),
             (r"wednesday|friday",)),
    ), summary=r"check|whiten|insur|aetna|appointment|book|price|cost", sentiments=("positive", "neutral"),
        variables={"caller_name": r"john|smith", "appointment_day": r"tuesday", "service": r"check|whiten"}),
    Call("unhappy caller", (
        Turn("Last time I waited forty minutes and nobody called me back. I'm really annoyed.",
             (r"sorry|apolog|understand|frustrat",), ()),
        Turn("Who is the dentist there anyway?", (r"patel",), ()),
        Turn("Can I come on Monday at 7 in the morning?", (rf"{NUM}8\b|eight|not open|n't open|open at|opens|closed",),
             (r"\byes\b",)),
    ), summary=r"wait|annoy|complain|dentist|patel|monday|frustrat|unhappy|upset", sentiments=("negative",),
        variables={"caller_name": None, "appointment_day": None}),
)


def matches(text: str, pattern: str) -> bool:
    return re.search(pattern, text.lower()) is not None


def grade_reply(turn: Turn, reply: str) -> list[str]:
    """What is wrong with ``reply`` (empty: right)."""
    problems = [f"missing /{p}/" for p in turn.want if not matches(reply, p)]
    problems += [f"wrong /{p}/" for p in turn.forbid if matches(reply, p)]
    return problems


def grade_analysis(call: Call, analysis: Any) -> tuple[int, int, list[str]]:
    """Passed checks, total checks, the failures."""
    failures: list[str] = []
    if not (analysis.summary and matches(analysis.summary, call.summary)):
        failures.append(f"summary {analysis.summary!r} !~ /{call.summary}/")
    if analysis.sentiment not in call.sentiments:
        failures.append(f"sentiment {analysis.sentiment!r} not in {call.sentiments}")
    for key, pattern in call.variables.items():
        value = analysis.extracted_variables.get(key)
        text = "" if value is None else str(value).strip()
        empty = text.lower() in ("", "none", "null", "n/a", "unknown", "not mentioned", "not provided")
        ok = empty if pattern is None else (not empty and matches(text, pattern))
        if not ok:
            failures.append(f"{key}={value!r} (want {'empty' if pattern is None else '/' + pattern + '/'})")
    total = 2 + len(call.variables)
    return total - len(failures), total, failures


@dataclass
class ModelResult:
    model: str
    load_s: float
    prompt_tokens: int
    prompt_eval_tps: float
    turns_ok: int = 0
    turns: int = 0
    first_token_ms: list[float] = field(default_factory=list)
    gen_tps: list[float] = field(default_factory=list)
    analysis_ok: int = 0
    analysis_checks: int = 0
    analysis_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def agent_messages(history: list[Any]) -> list[Any]:
    from chalicelib.domain.agent_settings import AgentSettings
    from streaming.pipeline.prompt import messages_for

    agent = AgentSettings.model_validate({"context_breakdown": [{"title": "Role", "body": ROLE},
                                                                 {"title": "Facts", "body": FACTS}]})
    return messages_for(agent, {}, history)


def run_model(model: str, max_tokens: int, analysis: bool, verbose: bool) -> ModelResult:
    from streaming.engines.base import ChatMessage, LlmOptions
    from streaming.engines.llama_llm import LlamaLlm
    from streaming.post_call_analysis import analyze

    started = time.perf_counter()
    path = model if model.lower().endswith(".gguf") else None  # a file named on the command line is trusted
    engine = LlamaLlm(model, model_path=path)
    load_s = time.perf_counter() - started
    opening = agent_messages([ChatMessage("assistant", WELCOME)])
    engine.llama.reset()  # prompt eval from an empty context
    prompt_tokens = len(engine.prompt_tokens(opening))
    started = time.perf_counter()
    engine.generate_text(opening, LlmOptions(temperature=0.0, max_tokens=1))
    result = ModelResult(model, load_s, prompt_tokens, prompt_tokens / (time.perf_counter() - started))
    options = LlmOptions(temperature=0.0, max_tokens=max_tokens)

    for call in CALLS:
        history = [ChatMessage("assistant", WELCOME)]
        transcript = [{"role": "agent", "text": WELCOME}]
        engine.generate_text(agent_messages(history), LlmOptions(temperature=0.0, max_tokens=1))  # prefill
        for turn in call.turns:
            history.append(ChatMessage("user", turn.caller))
            reply, timing = engine.generate_text(agent_messages(history), options)
            reply = reply.strip()
            tokens = len(engine.llama.tokenize(reply.encode("utf-8"), add_bos=False, special=False))
            result.first_token_ms.append(timing["first_token_s"] * 1000)
            if tokens > 1 and timing["total_s"] > timing["first_token_s"]:
                result.gen_tps.append((tokens - 1) / (timing["total_s"] - timing["first_token_s"]))
            problems = grade_reply(turn, reply)
            result.turns += 1
            result.turns_ok += not problems
            if problems:
                result.failures.append(f"[{call.name}] {turn.caller!r} -> {reply!r}: {'; '.join(problems)}")
            if verbose:
                print(f"  {'ok ' if not problems else 'BAD'} {turn.caller!r} -> {reply!r}", flush=True)
            history.append(ChatMessage("assistant", reply))
            transcript += [{"role": "user", "text": turn.caller}, {"role": "agent", "text": reply}]
        if analysis:
            done = asyncio.run(analyze(transcript, VARIABLES, engine, timeout_s=120))
            passed, total, failures = grade_analysis(call, done)
            result.analysis_ok += passed
            result.analysis_checks += total
            result.analysis_ms.append(done.compute_ms)
            result.failures += [f"[{call.name}] analysis: {f}" for f in failures + done.errors]
            if verbose:
                print(f"  analysis {passed}/{total}: {done.summary!r} {done.sentiment} {done.extracted_variables}",
                      flush=True)
    return result


def print_table(results: list[ModelResult]) -> None:
    print(f"\n{'model':<28} {'replies':>9} {'analysis':>9} {'1st tok ms':>11} {'p50':>6} {'tok/s':>6} "
          f"{'prompt eval tok/s':>18} {'analysis s':>11} {'load s':>7}")
    for r in results:
        analysis = f"{r.analysis_ok}/{r.analysis_checks}" if r.analysis_checks else "-"
        print(f"{r.model[-28:]:<28} {f'{r.turns_ok}/{r.turns}':>9} {analysis:>9} "
              f"{statistics.mean(r.first_token_ms):>11.0f} {statistics.median(r.first_token_ms):>6.0f} "
              f"{statistics.mean(r.gen_tps) if r.gen_tps else 0:>6.1f} "
              f"{f'{r.prompt_eval_tps:.0f} ({r.prompt_tokens} tok)':>18} "
              f"{statistics.mean(r.analysis_ms) / 1000 if r.analysis_ms else 0:>11.1f} {r.load_s:>7.1f}")


def main() -> None:
    from streaming.engines.llama_models import PACKAGED

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", help="packaged model name or .gguf path (repeatable); "
                        f"default: {', '.join(PACKAGED)}")
    parser.add_argument("--max-tokens", type=int, default=80)
    parser.add_argument("--no-analysis", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every reply")
    parser.add_argument("--failures", action="store_true", help="print the failed checks")
    args = parser.parse_args()
    turns = sum(len(c.turns) for c in CALLS)
    print(f"Conversation quality: {len(CALLS)} calls, {turns} caller turns, receptionist prompt, greedy decoding",
          flush=True)
    load_start = os.getloadavg()[0]
    results = []
    for model in args.model or list(PACKAGED):
        print(f"- {model}", flush=True)
        results.append(run_model(model, args.max_tokens, not args.no_analysis, args.verbose))
        if args.failures:
            print("\n".join(f"    {f}" for f in results[-1].failures))
    print_table(results)
    print(f"(load average {load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end: the speed figures are only "
          "comparable between runs on an otherwise idle machine)")


if __name__ == "__main__":
    main()
