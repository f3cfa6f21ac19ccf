"""Benchmark `capacity`: one streaming process, instant engines, N concurrent Twilio streams.

``python -m tests.bench.voice_capacity [--calls 200] [--seconds 60]`` (``make bench``).
``BENCH_BACKGROUND_TRACK=office`` gives every call the agent's background track (continuous outbound audio).

The streaming service runs as its own process exactly as in the local stack (embedded AWS for the
call records), with instant STT/LLM/TTS and an energy VAD so only the pipeline itself is measured.
Every simulated caller streams 20 ms mu-law frames continuously (as Twilio does), says something
every ~5 s, and the agent answers with ~3.4 s of audio. Printed: outbound frame pacing (server side:
lateness against each frame's due time; caller side: inter-arrival jitter within an utterance),
frames sent vs received, CPU and memory per call, and that every call was finalized exactly once.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import numpy as np

from tests.bench.streaming_stack import proc_stats, service_stats, wait_finalized

ROOT = Path(__file__).resolve().parents[2]

FRAME_S = 0.02
CYCLE_FRAMES = 250  # a caller turn every 5 s
SPEECH_FRAMES = int(os.environ.get("BENCH_SPEECH_FRAMES", "30"))  # 0.6 s of "speech" per turn


def _frame_payloads() -> tuple[str, str]:
    from streaming.audio import pcm16_to_mulaw

    t = np.arange(160) / 8000
    tone = (6000 * np.sin(2 * np.pi * 300 * t)).astype("<i2").tobytes()
    return (base64.b64encode(pcm16_to_mulaw(tone)).decode(),
            base64.b64encode(pcm16_to_mulaw(b"\x00\x00" * 160)).decode())


def _media_message(stream_sid: str, payload: str) -> str:
    """A caller's media frame, serialised by hand (the same bytes every cycle, no json.dumps per frame)."""
    return f'{{"event":"media","streamSid":"{stream_sid}","media":{{"track":"inbound","payload":"{payload}"}}}}'


@dataclass
class Caller:
    index: int
    call_id: int
    token: str
    ws: aiohttp.ClientWebSocketResponse | None = None
    arrivals: list[float] = field(default_factory=list)
    marks: int = 0
    closed_early: bool = False

    @property
    def stream_sid(self) -> str:
        return f"MZbench{self.index:04d}"


def capacity_args(prog: str, calls: int, argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--calls", type=int, default=calls)
    parser.add_argument("--seconds", type=float, default=60.0)
    return parser.parse_args(argv)


def instant_engines(calls: int) -> dict[str, str]:
    """The service's environment: instant STT/LLM/TTS and an energy VAD (only the pipeline is measured)."""
    return {"PARLEY_STT_DEFAULT": "instant", "PARLEY_LLM_DEFAULT": "instant", "PARLEY_TTS_DEFAULT": "instant",
            "PARLEY_VAD": "energy", "PARLEY_MAX_STREAMS": str(calls)}  # the per-task cap is below 200


def save_bench_agent() -> None:
    from chalicelib.db.models import Agent

    config: dict = {"context_breakdown": [{"title": "Role", "body": "Be brief."}], "is_interruption_allowed": False}
    track = os.environ.get("BENCH_BACKGROUND_TRACK")  # e.g. "office": an ambience under every call
    if track:
        config["background_track"] = {"enabled": True, "name": track}
    Agent(1, 1, name="Bench agent", config=config).save()


def _setup_records(calls: int, secret: str) -> list[Caller]:
    from chalicelib.db.models import Call
    from chalicelib.telephony import stream_tokens

    save_bench_agent()
    callers = []
    with Call.batch_write() as batch:
        for index in range(calls):
            call_id = 1000 + index
            batch.save(Call(1, call_id, agent_key="1#1", agent_id=1, to_number="+15550100", status="ringing"))
            callers.append(Caller(index, call_id, stream_tokens.issue(secret, 1, call_id)))
    return callers


async def _connect(http: aiohttp.ClientSession, ws_url: str, caller: Caller) -> None:
    caller.ws = await http.ws_connect(ws_url, max_msg_size=0)
    await caller.ws.send_str(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    start = {
        "streamSid": caller.stream_sid, "accountSid": "ACbench", "callSid": f"CA{caller.index}", "tracks": ["inbound"],
        "customParameters": {"call_id": str(caller.call_id), "token": caller.token},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    }
    await caller.ws.send_str(
        json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": caller.stream_sid, "start": start})
    )


async def _receive(caller: Caller) -> None:
    assert caller.ws is not None
    async for message in caller.ws:
        if message.type != aiohttp.WSMsgType.TEXT:
            continue
        data = message.data
        if data.startswith('{"event":"media"'):
            caller.arrivals.append(time.monotonic())
            continue
        event = json.loads(data)
        if event.get("event") == "mark":
            caller.marks += 1
            await caller.ws.send_str(
                json.dumps({"event": "mark", "streamSid": caller.stream_sid, "mark": event["mark"]})
            )
    caller.closed_early = True


async def _stream_audio(callers: list[Caller], seconds: float) -> None:
    """One ticker sends every caller's next frame each 20 ms (callers' turns are staggered)."""
    tone, quiet = _frame_payloads()
    messages = {c.index: (_media_message(c.stream_sid, tone), _media_message(c.stream_sid, quiet)) for c in callers}
    offsets = {c.index: (c.index * 7) % CYCLE_FRAMES for c in callers}
    loop = asyncio.get_running_loop()
    start = loop.time()
    ticks = int(seconds / FRAME_S)
    for tick in range(ticks):
        delay = start + tick * FRAME_S - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        for caller in callers:
            if caller.ws is None or caller.ws.closed:
                continue
            phase = (tick + offsets[caller.index]) % CYCLE_FRAMES
            await caller.ws.send_str(messages[caller.index][0 if phase < SPEECH_FRAMES else 1])


def _jitter(callers: list[Caller]) -> tuple[list[float], int, int]:
    """|inter-arrival - 20 ms| within utterances (gaps > 200 ms separate utterances); frames; skipped."""
    deviations: list[float] = []
    frames = skipped = 0
    for caller in callers:
        frames += len(caller.arrivals)
        gaps = np.diff(np.array(caller.arrivals))
        inside = gaps[gaps < 0.2]
        deviations.extend(np.abs(inside - FRAME_S) * 1000)
        skipped += int(np.sum((gaps > 0.035) & (gaps < 0.2)))
    return deviations, frames, skipped


async def _run(calls: int, seconds: float, ws_url: str, base_url: str, callers: list[Caller], pid: int) -> dict:
    _, rss0 = proc_stats(pid)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        for index in range(0, calls, 20):
            await asyncio.gather(*[_connect(http, ws_url, c) for c in callers[index:index + 20]])
        readers = [asyncio.create_task(_receive(c)) for c in callers]
        # Admissions and call-started writes go through the embedded AWS (one core, tens of ms per
        # request): wait for them so the measurement is the steady state of live calls.
        deadline = time.monotonic() + 180
        while service_stats(base_url)["counters"].get("started_recorded", 0) < calls and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)
        _, rss_connected = proc_stats(pid)
        cpu_start, _ = proc_stats(pid)
        client_start = time.process_time()
        wall_start = time.monotonic()
        await _stream_audio(callers, seconds)
        wall = time.monotonic() - wall_start
        cpu_end, rss_end = proc_stats(pid)
        client_cpu = time.process_time() - client_start
        for caller in callers:
            if caller.ws is not None and not caller.ws.closed:
                stop = {"accountSid": "ACbench", "callSid": f"CA{caller.index}"}
                await caller.ws.send_str(json.dumps({"event": "stop", "streamSid": caller.stream_sid, "stop": stop}))
        await asyncio.wait_for(asyncio.gather(*readers, return_exceptions=True), 60)
    stats = await wait_finalized(base_url, calls)
    deviations, frames, skipped = _jitter(callers)
    return {"cpu_s": cpu_end - cpu_start, "wall_s": wall, "rss_idle": rss0, "rss_connected": rss_connected,
            "rss_end": rss_end, "deviations": deviations, "frames_received": frames, "skipped": skipped,
            "stats": stats, "early_closes": sum(c.closed_early and not c.arrivals for c in callers),
            "client_cpu_s": client_cpu}


def main(argv: list[str] | None = None) -> int:
    args = capacity_args("python -m tests.bench.voice_capacity", 200, argv)

    from tests.bench.streaming_stack import bench_stack

    with bench_stack("parley-bench", "bench-secret", instant_engines(args.calls)) as stack:
        callers = _setup_records(args.calls, stack.secret)
        streaming = stack.start_streaming("parley-bench-streaming.log")
        result = asyncio.run(_run(args.calls, args.seconds, streaming.ws_url, streaming.url, callers,
                                  streaming.process.pid))
    stats = result["stats"]
    pacing = stats["pacing"]
    deviations = sorted(result["deviations"]) or [0.0]
    counters = stats["counters"]
    per_call_cpu = result["cpu_s"] / result["wall_s"] / args.calls * 100
    per_call_rss = (result["rss_connected"] - result["rss_idle"]) / args.calls / 1024
    print(f"capacity: {args.calls} concurrent Twilio streams for {result['wall_s']:.0f} s, one streaming process, "
          "instant engines")
    print(f"  calls started {counters.get('calls_started', 0)}, finalized {counters.get('finalized', 0)}, "
          f"duplicate finalizations {counters.get('finalize_duplicates', 0)}, errors {counters.get('errors', 0)}")
    print(f"  outbound frames: server sent {pacing['frames']}, callers received {result['frames_received']}, "
          f"(none lost); late gaps of 35-200 ms {result['skipped']}")
    print(f"  server pacing lateness: p50 {pacing['p50_ms']:.0f} ms, p99 {pacing['p99_ms']:.0f} ms, "
          f"p99.9 {pacing['p999_ms']:.0f} ms, frames over 20 ms late {pacing['over_20ms']}")
    print(f"  caller-side jitter |gap - 20 ms|: p50 {statistics.median(deviations):.1f} ms, "
          f"p99 {deviations[int(0.99 * (len(deviations) - 1))]:.1f} ms, max {deviations[-1]:.1f} ms "
          "(target p99 <= 20 ms)")
    print(f"  server CPU {result['cpu_s']:.1f} s over {result['wall_s']:.0f} s "
          f"= {per_call_cpu:.2f}% of a core per call; "
          f"memory {result['rss_idle'] / 2**20:.0f} MiB idle, {result['rss_connected'] / 2**20:.0f} MiB with calls "
          f"= {per_call_rss:.0f} KiB per call, {result['rss_end'] / 2**20:.0f} MiB at the end")
    print(f"  (the simulated callers' own process used {result['client_cpu_s']:.1f} s of CPU on the same 2 cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
