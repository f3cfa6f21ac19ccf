"""Benchmark `voice latency`: caller turns over the Twilio protocol against the local engines.

``python -m tests.bench.voice_latency [--calls 4] [--turns 6]`` (``make bench``).

The streaming service runs as in the local stack (Silero VAD, faster-whisper tiny.en, SmolLM2 on
llama.cpp, Piper; embedded AWS for call records). Simulated callers speak Piper sentences in real
time; every third turn the caller also talks over the agent's reply (barge-in). Printed, p50/p95:
- mouth-to-ear: last caller speech frame sent -> first agent audio frame received (caller's clock);
- each stage from the service's per-turn metrics (ms after the caller's end of speech);
- framework overhead: mouth-to-ear - configured silence - engine compute left on the critical path
  after the silence (what the pipeline itself adds: VAD granularity, hand-offs, pacing, transport);
- barge-in: first caller speech frame over agent audio -> ``clear`` received.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path

from tests.bench.caller_turns import (
    LEVEL,
    CallRun,
    bakery_agent_config,
    caller_speech,
    framework_overhead,
    line,
    run_turns,
    wait_for_turn_metrics,
)

ROOT = Path(__file__).resolve().parents[2]
PHONE_RATE = 8000


class PhoneCaller:
    """:class:`tests.bench.caller_turns.Caller` over a Twilio media stream (``devstack.media_client``)."""

    def __init__(self, client, audio: dict[str, bytes]) -> None:
        self.client = client
        self.audio = audio

    def say(self, text: str) -> None:
        self.client.say(self.audio[text])

    async def wait_sent(self) -> None:
        await self.client.wait_sent(timeout=30)

    def last_speech_sent(self, since: float) -> float | None:
        times = self.client.speech_sent_times(since, LEVEL)
        return times[-1] if times else None

    async def wait_agent_speech(self, timeout: float) -> None:
        await self.client.wait_agent_speech(timeout=timeout)

    async def wait_agent_silence(self, seconds: float, timeout: float) -> None:
        await self.client.wait_agent_silence(seconds, timeout=timeout)

    def first_agent_audio_after(self, t: float) -> float | None:
        return next((frame.t for frame in self.client.received if frame.t > t), None)

    def barge_in_acks(self) -> list[float]:
        return [event.t for event in self.client.events_of("clear")]

    def first_speech_sent_after(self, t: float) -> float:
        return next(f.t for f in self.client.sent if f.t >= t and f.speech)


async def run_phone_call(ws_url: str, call_id: int, token: str, turns: int, audio: dict[str, bytes],
                         run: CallRun) -> None:
    from devstack.media_client import MediaStreamClient

    client = MediaStreamClient(ws_url, f"CAlat{call_id}", "AClatency", {"call_id": str(call_id), "token": token})
    await client.connect()
    try:
        await run_turns(PhoneCaller(client, audio), call_id, turns, run)
    finally:
        await client.hang_up()


def print_stages(metrics: list[dict]) -> None:
    """The service's per-turn stages, engine compute and framework overhead."""
    semantic = [m for m in metrics if m.get("end_of_turn_by") == "semantic"]
    print(f"  turns ended by the end-of-turn judge: {len(semantic)}/{len(metrics)}; the rest by silence")
    for key, name in (("end_of_turn_ms", "end of turn (judge or silence)"), ("stt_final_ms", "STT final"),
                      ("llm_first_token_ms", "LLM first token"), ("tts_first_audio_ms", "TTS first audio"),
                      ("first_audio_out_ms", "first audio frame sent")):
        print(line(name, [m[key] for m in metrics if m.get(key) is not None]))
    for stage in ("stt", "llm", "tts"):
        print(line(f"engine compute: {stage}", [m["engine_ms"][stage] for m in metrics if stage in m["engine_ms"]]))
    print(line("framework overhead", framework_overhead(metrics)) + "   target p95 <= 20 ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.voice_latency")
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--turns", type=int, default=6)
    args = parser.parse_args(argv)

    from tests.bench.streaming_stack import bench_stack

    with bench_stack("parley-latency", "latency-secret") as stack:
        from chalicelib.db.models import Agent, Call
        from chalicelib.telephony import stream_tokens

        secret = stack.secret
        Agent(1, 1, name="Bakery", config=bakery_agent_config()).save()
        runs = [CallRun(100 + i) for i in range(args.calls)]
        for run in runs:
            Call(1, run.call_id, agent_key="1#1", agent_id=1, to_number="+15550100", status="ringing").save()
        print("synthesizing caller speech...", flush=True)
        audio = caller_speech([PHONE_RATE])[PHONE_RATE]
        streaming = stack.start_streaming("parley-bench-latency.log")
        print(f"streaming service up; {args.calls} calls x {args.turns} turns...", flush=True)

        async def all_calls() -> None:
            for run in runs:  # one call at a time: the engines share 2 cores
                await run_phone_call(streaming.ws_url, run.call_id, stream_tokens.issue(secret, 1, run.call_id),
                                     args.turns, audio, run)
        asyncio.run(all_calls())
        calls = wait_for_turn_metrics(1, [run.call_id for run in runs])

    samples = [s for run in runs for s in run.samples]
    metrics = [m for call in calls for m in (call.turn_metrics or [])]
    m2e = [s.mouth_to_ear_ms for s in samples if s.mouth_to_ear_ms is not None]
    barge = [s.barge_in_ms for s in samples if s.barge_in_ms is not None]
    silence_timeout = metrics[0]["silence_timeout_ms"] if metrics else "?"
    from streaming.settings import StreamingSettings

    engines = StreamingSettings.from_env()
    print(f"voice latency: {len(samples)} caller turns over {len(runs)} Twilio media streams, local engines "
          f"(STT {engines.stt_default}, turn {engines.turn_model}, LLM {engines.llm_default}, TTS "
          f"{engines.tts_default}), silence timeout {silence_timeout} ms")
    print(line("mouth-to-ear (caller's clock)", m2e) + "   target p50 <= 450 ms, p95 <= 650 ms (first content audio)")
    print_stages(metrics)
    print(line("barge-in: speech -> clear", barge) + "   target p95 <= 250 ms")
    speculative = sum(1 for m in metrics if m.get("speculative"))
    print(f"  replies drafted during the silence (speculative): {speculative}/{len(metrics)}; "
          f"mean mouth-to-ear {statistics.mean(m2e):.0f} ms" if m2e else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
