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
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

SENTENCES = [
    "What time do you open tomorrow morning?",
    "Can I order a chocolate cake for Saturday?",
    "Do you have any gluten free bread today?",
    "How much does a dozen croissants cost?",
    "Is there parking near the shop?",
    "Can I pay with a credit card?",
    "Do you deliver to the city center?",
    "What is your most popular pastry?",
    "Are you open on public holidays?",
    "Can I pick up my order after six?",
    "Do you make birthday cakes with names on them?",
    "Thank you, that is all I needed.",
]
BARGE_IN = "Sorry, one more question."
LEVEL = 500  # PCM16 RMS above which a frame counts as speech


@dataclass
class TurnSample:
    mouth_to_ear_ms: float | None
    barge_in_ms: float | None = None


@dataclass
class CallRun:
    call_id: int
    samples: list[TurnSample] = field(default_factory=list)


def _speech(voice, text: str) -> bytes:
    """Piper speech at 8 kHz, leading and trailing silence trimmed (so its last frame is speech)."""
    from streaming.audio import resample

    pcm = resample(b"".join(voice.synth(text)), voice.rate, 8000)
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    frames = samples[: len(samples) // 160 * 160].reshape(-1, 160)
    loud = np.nonzero(np.sqrt((frames ** 2).mean(axis=1)) > LEVEL)[0]
    return frames[loud[0]:loud[-1] + 1].astype("<i2").tobytes()


class _Piper:
    def __init__(self) -> None:
        from streaming.engines.piper_tts import PiperTts

        self.engine = PiperTts()
        self.rate = self.engine.sample_rate

    def synth(self, text: str) -> list[bytes]:
        async def run() -> list[bytes]:
            return [chunk async for chunk in self.engine.synthesize(text)]
        return asyncio.run(run())


def _last_speech_frame_at(client, since: float) -> float | None:
    """Send time of the last caller frame with speech energy sent after ``since``."""
    from streaming.audio import mulaw_to_pcm16

    sent = client._sent_mulaw
    last = None
    for index, frame in enumerate(client.sent):
        if frame.t < since or not frame.speech:
            continue
        pcm = np.frombuffer(mulaw_to_pcm16(bytes(sent[index * 160:(index + 1) * 160])), dtype="<i2").astype(np.float32)
        if pcm.size and np.sqrt((pcm ** 2).mean()) > LEVEL:
            last = frame.t
    return last


def _first_agent_frame_after(client, t: float) -> float | None:
    return next((frame.t for frame in client.received if frame.t > t), None)


async def _run_call(ws_url: str, call_id: int, token: str, turns: int, audio: dict[str, bytes], run: CallRun) -> None:
    from devstack.media_client import MediaStreamClient

    client = MediaStreamClient(ws_url, f"CAlat{call_id}", "AClatency", {"call_id": str(call_id), "token": token})
    await client.connect()
    try:
        await client.wait_agent_silence(1.0, timeout=60)  # the welcome message
        for turn in range(turns):
            sentence = SENTENCES[(call_id + turn) % len(SENTENCES)]
            started = time.monotonic()
            client.say(audio[sentence])
            await client.wait_sent(timeout=30)
            last = _last_speech_frame_at(client, started)
            await client.wait_agent_speech(timeout=60)
            first = _first_agent_frame_after(client, last) if last else None
            sample = TurnSample(None if first is None else round(1000 * (first - last), 1))
            if turn % 3 == 2:  # talk over the reply
                await asyncio.sleep(0.6)
                clears_before = len(client.events_of("clear"))
                barge_started = time.monotonic()
                client.say(audio[BARGE_IN])
                deadline = time.monotonic() + 5
                while len(client.events_of("clear")) == clears_before and time.monotonic() < deadline:
                    await asyncio.sleep(0.005)
                clears = client.events_of("clear")
                if len(clears) > clears_before:
                    first_speech = next(f.t for f in client.sent if f.t >= barge_started and f.speech)
                    sample.barge_in_ms = round(1000 * (clears[-1].t - first_speech), 1)
                await client.wait_sent(timeout=30)
            run.samples.append(sample)
            await client.wait_agent_silence(1.2, timeout=90)
    finally:
        await client.hang_up()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _line(name: str, values: list[float]) -> str:
    if not values:
        return f"  {name:<34} (no samples)"
    return f"  {name:<34} p50 {_pct(values, 0.5):7.1f} ms   p95 {_pct(values, 0.95):7.1f} ms   (n={len(values)})"


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
        Agent(1, 1, name="Bakery", config={
            "welcome_message": "Hello, thank you for calling Parley Bakery.",
            "context_breakdown": [{"title": "Role", "body": "You answer the phone for Parley Bakery. Opening hours: "
                                   "seven to six, Monday to Saturday. Cakes need two days notice."}],
            "is_interruption_allowed": True}).save()
        runs = [CallRun(100 + i) for i in range(args.calls)]
        for run in runs:
            Call(1, run.call_id, agent_key="1#1", agent_id=1, to_number="+15550100", status="ringing").save()
        print("synthesizing caller speech...", flush=True)
        voice = _Piper()
        audio = {text: _speech(voice, text) for text in [*SENTENCES, BARGE_IN]}
        streaming = stack.start_streaming("parley-bench-latency.log")
        print(f"streaming service up; {args.calls} calls x {args.turns} turns...", flush=True)

        async def all_calls() -> None:
            for run in runs:  # one call at a time: the engines share 2 cores
                await _run_call(streaming.ws_url, run.call_id, stream_tokens.issue(secret, 1, run.call_id),
                                args.turns, audio, run)
        asyncio.run(all_calls())
        deadline = time.monotonic() + 60
        calls = [Call.get(1, run.call_id) for run in runs]
        while any(c.turn_metrics is None for c in calls) and time.monotonic() < deadline:
            time.sleep(0.5)
            calls = [Call.get(1, run.call_id) for run in runs]

    samples = [s for run in runs for s in run.samples]
    metrics = [m for call in calls for m in (call.turn_metrics or [])]
    m2e = [s.mouth_to_ear_ms for s in samples if s.mouth_to_ear_ms is not None]
    barge = [s.barge_in_ms for s in samples if s.barge_in_ms is not None]
    overhead = []
    for m in metrics:
        if m.get("first_audio_out_ms") is None or m.get("stt_started_ms") is None:
            continue
        engines = sum(m["engine_ms"].get(stage, 0.0) for stage in ("stt", "llm", "tts"))
        critical = max(float(m["silence_timeout_ms"]), m["stt_started_ms"] + engines)
        overhead.append(m["first_audio_out_ms"] - critical)
    silence_timeout = metrics[0]["silence_timeout_ms"] if metrics else "?"
    print(f"voice latency: {len(samples)} caller turns over {len(runs)} Twilio media streams, local engines "
          f"(whisper tiny.en, SmolLM2-135M, Piper), silence timeout {silence_timeout} ms")
    print(_line("mouth-to-ear (caller's clock)", m2e) + "   target p50 <= 800 ms")
    for key, name in (("end_of_turn_ms", "end of turn (silence timeout)"), ("stt_final_ms", "STT final"),
                      ("llm_first_token_ms", "LLM first token"), ("tts_first_audio_ms", "TTS first audio"),
                      ("first_audio_out_ms", "first audio frame sent")):
        print(_line(name, [m[key] for m in metrics if m.get(key) is not None]))
    for stage in ("stt", "llm", "tts"):
        print(_line(f"engine compute: {stage}", [m["engine_ms"][stage] for m in metrics if stage in m["engine_ms"]]))
    print(_line("framework overhead", overhead) + "   target p95 <= 20 ms")
    print(_line("barge-in: speech -> clear", barge) + "   target p95 <= 250 ms")
    speculative = sum(1 for m in metrics if m.get("speculative"))
    print(f"  replies drafted during the silence (speculative): {speculative}/{len(metrics)}; "
          f"mean mouth-to-ear {statistics.mean(m2e):.0f} ms" if m2e else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
