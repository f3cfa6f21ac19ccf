"""Benchmark `false cut-offs`: callers who pause 300-600 ms mid-sentence; does the agent reply into the pause?

``python -m tests.bench.false_cutoffs [--turns 24] [--turn-model smart-turn-v3|none]`` (``make bench``).

The streaming service runs as in the local stack (Silero VAD, Smart Turn, Whisper tiny.en, the default local
LLM, Piper). Each caller turn is one of the bakery sentences in Piper's voice, cut at a gap between two words
in its middle, with a pause of 300, 400, 500 or 600 ms inserted there. Printed:

- **replied into the pause**: agent audio reached the caller after the first half and before the caller had
  finished the second half (the agent talked into the pause or over the caller). Target: <= 5% of turns;
- **turns split**: the service ended the caller's turn inside the pause (its call log shows more ended caller
  turns in its turn metrics than sentences said), whether or not audio got out before the caller went on;
- the same sentences said without a pause, for the mouth-to-ear cost of the judge's caution.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass

import numpy as np

from tests.bench.caller_turns import LEVEL, SENTENCES, bakery_agent_config, caller_speech, pct

PHONE_RATE = 8000
FRAME = PHONE_RATE // 50
PAUSES_S = (0.3, 0.4, 0.5, 0.6)


def split_at_a_gap(pcm: bytes) -> tuple[bytes, bytes]:
    """``pcm`` (8 kHz, trimmed) cut at the quietest 20 ms frame in its middle (35-65% of it): two halves of a
    sentence said with one intonation, as when a caller stops to think."""
    samples = np.frombuffer(pcm, dtype="<i2")
    frames = samples[: len(samples) // FRAME * FRAME].reshape(-1, FRAME).astype(np.float32)
    rms = np.sqrt((frames ** 2).mean(axis=1))
    low, high = int(len(rms) * 0.35), int(len(rms) * 0.65)
    cut = (low + int(np.argmin(rms[low:high]))) * FRAME * 2
    return pcm[:cut], pcm[cut:]


@dataclass
class PauseTurn:
    sentence: str
    pause_s: float
    replied_into_pause: bool


async def run_call(ws_url: str, call_id: int, token: str, script: list[tuple[str, float]],
                   halves: dict[str, tuple[bytes, bytes]]) -> list[PauseTurn]:
    from devstack.media_client import MediaStreamClient

    client = MediaStreamClient(ws_url, f"CAcut{call_id}", "ACcutoffs", {"call_id": str(call_id), "token": token})
    await client.connect()
    results = []
    try:
        await client.wait_agent_silence(1.0, timeout=60)  # the welcome message
        for sentence, pause_s in script:
            first, second = halves[sentence]
            started = time.monotonic()
            client.say(first)
            client.pause(pause_s)
            client.say(second)
            await client.wait_sent(timeout=30)
            speech = client.speech_sent_times(started, LEVEL)
            first_half_end = _last_before_gap(speech)
            caller_done = speech[-1] if speech else time.monotonic()
            early = [frame.t for frame in client.received if first_half_end < frame.t <= caller_done]
            results.append(PauseTurn(sentence, pause_s, bool(early)))
            await client.wait_agent_speech(timeout=60)
            await client.wait_agent_silence(1.2, timeout=90)
    finally:
        await client.hang_up()
    return results


def _last_before_gap(times: list[float]) -> float:
    """The last speech frame before the longest gap between speech frames (the inserted pause)."""
    if len(times) < 2:
        return times[0] if times else 0.0
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    return times[int(np.argmax(gaps))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.false_cutoffs")
    parser.add_argument("--turns", type=int, default=24)
    parser.add_argument("--turn-model", default="smart-turn-v3", help="PARLEY_TURN_MODEL for the service")
    args = parser.parse_args(argv)

    from tests.bench.streaming_stack import bench_stack

    script = [(SENTENCES[i % len(SENTENCES)], PAUSES_S[i % len(PAUSES_S)]) for i in range(args.turns)]
    calls = [script[i:i + 6] for i in range(0, len(script), 6)]
    with bench_stack("parley-cutoffs", "cutoffs-secret", env={"PARLEY_TURN_MODEL": args.turn_model}) as stack:
        from chalicelib.db.models import Agent, Call
        from chalicelib.telephony import stream_tokens

        Agent(1, 1, name="Bakery", config=bakery_agent_config()).save()
        for index in range(len(calls)):
            Call(1, 300 + index, agent_key="1#1", agent_id=1, to_number="+15550100", status="ringing").save()
        print("synthesizing caller speech...", flush=True)
        audio = caller_speech([PHONE_RATE])[PHONE_RATE]
        halves = {sentence: split_at_a_gap(audio[sentence]) for sentence in SENTENCES}
        streaming = stack.start_streaming("parley-bench-cutoffs.log")
        print(f"streaming service up; {args.turns} turns with a mid-sentence pause...", flush=True)

        async def all_calls() -> list[PauseTurn]:
            turns: list[PauseTurn] = []
            for index, part in enumerate(calls):
                turns += await run_call(streaming.ws_url, 300 + index,
                                        stream_tokens.issue(stack.secret, 1, 300 + index), part, halves)
            return turns

        turns = asyncio.run(all_calls())
        from tests.bench.caller_turns import wait_for_turn_metrics

        records = wait_for_turn_metrics(1, [300 + i for i in range(len(calls))])

    said = len(turns)
    # one per caller turn the service ended (the transcript joins a turn ended in a pause to the words after it)
    caller_turns = sum(len(call.turn_metrics or []) for call in records)
    into = [t for t in turns if t.replied_into_pause]
    metrics = [m for call in records for m in (call.turn_metrics or [])]
    print(f"false cut-offs: {said} caller turns with a 300-600 ms mid-sentence pause, turn model {args.turn_model}")
    print(f"  replied into the pause        {len(into)}/{said} = {100 * len(into) / max(1, said):.1f}%"
          "   target <= 5%")
    for pause in PAUSES_S:
        group = [t for t in turns if t.pause_s == pause]
        print(f"    pause {int(pause * 1000)} ms: {sum(t.replied_into_pause for t in group)}/{len(group)}")
    print(f"  turns split by the service     {max(0, caller_turns - said)} (caller turns logged: {caller_turns})")
    ends = [m["end_of_turn_ms"] for m in metrics if m.get("end_of_turn_ms") is not None]
    semantic = sum(1 for m in metrics if m.get("end_of_turn_by") == "semantic")
    if ends:
        print(f"  end of turn after the second half: p50 {pct(ends, 0.5):.0f} ms, p95 {pct(ends, 0.95):.0f} ms; "
              f"{semantic}/{len(metrics)} ended by the judge")
    return 0


if __name__ == "__main__":
    sys.exit(main())
