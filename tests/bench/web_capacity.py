"""Benchmark `web capacity`: one streaming process, instant engines, N concurrent WebRTC calls.

``python -m tests.bench.web_capacity [--calls 50] [--seconds 60]`` (``make bench``).

The service runs as its own process as in the local stack (embedded AWS), with instant STT/LLM/TTS and an
energy VAD, as in ``voice_capacity``. The load generator is this process: N aiortc peers
(``devstack.web_peer``, what the widget does in a browser) whose microphones send 20 ms Opus frames
continuously and say 0.6 s of tone every ~5 s (staggered); the agent answers each with ~3.4 s of audio.
Printed: the agent audio the server sent (each finalized call's ``frames_out``) against what the callers
decoded, gaps over 40 ms between received frames while the agent speaks, RTP packets lost, caller-side
inter-arrival jitter, CPU and memory per call of the streaming process, and that every call was finalized
exactly once. CPU of the machine as a whole is printed too: the callers share its 2 cores.
"""
from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import TYPE_CHECKING, Any

import aiohttp
import numpy as np

from tests.bench.streaming_stack import machine_cpu_s, proc_stats, service_stats, wait_finalized
from tests.bench.voice_capacity import (
    CYCLE_FRAMES,
    FRAME_S,
    SPEECH_FRAMES,
    capacity_args,
    instant_engines,
    save_bench_agent,
)

if TYPE_CHECKING:  # devstack.web_peer imports the models: only once bench_stack has set the table prefix
    from devstack.web_peer import WebPeer

AUDIBLE_RMS = 20.0  # a decoded frame above this is agent audio (Opus-coded silence decodes to ~0)
GAP_S = 0.04  # two frames' worth: a longer wait between received frames is audible


def _tone() -> bytes:
    from devstack.web_peer import RATE

    t = np.arange(int(SPEECH_FRAMES * FRAME_S * RATE)) / RATE
    return (6000 * np.sin(2 * np.pi * 300 * t)).astype("<i2").tobytes()


async def _connect_all(offer_url: str, call_ids: list[int], secret: str, http: aiohttp.ClientSession,
                       batch: int = 10) -> list[WebPeer]:
    from chalicelib.telephony import stream_tokens
    from devstack.web_peer import WebPeer

    peers: list[WebPeer] = []
    for index in range(0, len(call_ids), batch):
        peers += await asyncio.gather(*[
            WebPeer.connect(offer_url, call_id, stream_tokens.issue(secret, 1, call_id, ttl_seconds=60), http,
                            keep_audio=False) for call_id in call_ids[index:index + batch]])
    return peers


async def _speak(peer: WebPeer, index: int, start: float, end: float) -> None:
    """A caller turn every CYCLE_FRAMES frames (staggered by caller), each leaving time for the reply."""
    loop = asyncio.get_running_loop()
    tone = _tone()
    due = start + (index * 7) % CYCLE_FRAMES * FRAME_S
    while due + CYCLE_FRAMES * FRAME_S <= end:
        await asyncio.sleep(max(0.0, due - loop.time()))
        peer.say(tone)
        due += CYCLE_FRAMES * FRAME_S


async def _settle(peers: list[WebPeer], quiet_frames: int = 25, timeout: float = 10.0) -> None:
    """Until no caller has received agent audio for ``quiet_frames`` frames (the last replies are heard)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(f.rms > AUDIBLE_RMS for p in peers for f in p.frames[-quiet_frames:]):
        await asyncio.sleep(0.1)


def _audible(peer: WebPeer) -> int:
    return sum(f.rms > AUDIBLE_RMS for f in peer.frames)


def _received(peers: list[WebPeer]) -> dict[str, Any]:
    """Agent frames decoded, gaps over GAP_S while the agent spoke, |inter-arrival - 20 ms| (ms) then and overall."""
    audible = gaps = 0
    speaking: list[np.ndarray] = []
    overall: list[np.ndarray] = []
    for peer in peers:
        at = np.array([f.at for f in peer.frames])
        loud = np.array([f.rms > AUDIBLE_RMS for f in peer.frames])
        audible += _audible(peer)
        if len(at) < 2:
            continue
        intervals = np.diff(at)
        during = loud[1:] & loud[:-1]  # both frames agent audio: the interval is inside an utterance
        gaps += int(np.sum(intervals[during] > GAP_S))
        speaking.append(np.abs(intervals[during] - FRAME_S) * 1000)
        overall.append(np.abs(intervals - FRAME_S) * 1000)
    return {"audible": audible, "gaps": gaps, "speaking": np.sort(np.concatenate(speaking or [np.zeros(1)])),
            "overall": np.sort(np.concatenate(overall or [np.zeros(1)]))}


async def _packets_lost(peers: list[WebPeer]) -> int:
    lost = 0
    for peer in peers:
        for stats in (await peer.pc.getStats()).values():
            if getattr(stats, "type", "") == "inbound-rtp":
                lost += int(stats.packetsLost)
    return lost


async def _run(calls: int, seconds: float, base_url: str, secret: str, pid: int) -> dict[str, Any]:
    call_ids = [2000 + index for index in range(calls)]
    _, rss_idle = proc_stats(pid)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        connect_started = time.monotonic()
        peers = await _connect_all(f"{base_url}/web/offer", call_ids, secret, http)
        connect_s = time.monotonic() - connect_started
        deadline = time.monotonic() + 180  # admissions and call-started writes go through the embedded AWS
        while service_stats(base_url)["counters"].get("started_recorded", 0) < calls and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)
        loop = asyncio.get_running_loop()
        _, rss_connected = proc_stats(pid)
        cpu_start, machine_start, client_start = proc_stats(pid)[0], machine_cpu_s(), time.process_time()
        load_start = os.getloadavg()[0]
        start = loop.time()
        await asyncio.gather(*[_speak(peer, index, start, start + seconds) for index, peer in enumerate(peers)])
        await asyncio.sleep(max(0.0, start + seconds - loop.time()))
        wall = loop.time() - start
        cpu_end, rss_end = proc_stats(pid)
        machine = machine_cpu_s() - machine_start
        client_cpu = time.process_time() - client_start
        load_end = os.getloadavg()[0]
        await _settle(peers)
        lost = await _packets_lost(peers)
        await asyncio.gather(*[peer.hang_up() for peer in peers])
    stats = await wait_finalized(base_url, calls)
    return {"peers": peers, "call_ids": call_ids, "stats": stats, "connect_s": connect_s, "wall_s": wall,
            "cpu_s": cpu_end - cpu_start, "client_cpu_s": client_cpu, "machine_cpu_s": machine,
            "rss_idle": rss_idle, "rss_connected": rss_connected, "rss_end": rss_end, "lost": lost,
            "load": (load_start, load_end)}


def main(argv: list[str] | None = None) -> int:
    args = capacity_args("python -m tests.bench.web_capacity", 50, argv)

    from tests.bench.streaming_stack import bench_stack

    with bench_stack("parley-web-bench", "web-bench-secret", instant_engines(args.calls)) as stack:
        from chalicelib.db.models import Call

        save_bench_agent()
        with Call.batch_write() as batch:
            for index in range(args.calls):
                batch.save(Call(1, 2000 + index, agent_key="1#1", agent_id=1, to_number="+15550100",
                                status="ringing", channel="web"))
        streaming = stack.start_streaming("parley-bench-web-streaming.log")
        result = asyncio.run(_run(args.calls, args.seconds, streaming.url, stack.secret, streaming.process.pid))
        records = [Call.get(1, call_id) for call_id in result["call_ids"]]

    counters = result["stats"]["counters"]
    received = _received(result["peers"])
    sent = [(call.conversation or {}).get("frames_out", 0) for call in records]
    frames_out = sum(sent)
    short = [s - _audible(peer) for s, peer in zip(sent, result["peers"], strict=True) if s > _audible(peer)]
    finalized_records = sum(call.media_finalized_at is not None and (call.conversation or {}).get("channel") == "web"
                            for call in records)
    speaking, overall = received["speaking"], received["overall"]
    wall = result["wall_s"]
    per_call_cpu = result["cpu_s"] / wall / args.calls * 100
    per_call_rss = (result["rss_connected"] - result["rss_idle"]) / args.calls / 1024
    others = result["machine_cpu_s"] - result["cpu_s"] - result["client_cpu_s"]
    print(f"web capacity: {args.calls} concurrent WebRTC calls for {wall:.0f} s (all connected in "
          f"{result['connect_s']:.1f} s), one streaming process, instant engines, aiortc callers in the bench process")
    print(f"  calls started {counters.get('calls_started', 0)}, finalized {counters.get('finalized', 0)}, "
          f"duplicate finalizations {counters.get('finalize_duplicates', 0)}, finalize errors "
          f"{counters.get('finalize_errors', 0)}, errors {counters.get('errors', 0)}; records finalized as web calls "
          f"{finalized_records}/{args.calls}")
    print(f"  agent frames: server sent {frames_out}, callers decoded {received['audible']} "
          f"({received['audible'] - frames_out:+d}; calls short {len(short)}, by at most {max(short, default=0)}); "
          f"RTP packets lost (callers' side) {result['lost']}; gaps > {GAP_S * 1000:.0f} ms while the agent spoke "
          f"{received['gaps']}")
    print(f"  caller-side jitter |gap - 20 ms| while the agent spoke: p50 {np.median(speaking):.1f} ms, "
          f"p99 {speaking[int(0.99 * (len(speaking) - 1))]:.1f} ms, max {speaking[-1]:.1f} ms (target p99 <= 20 ms); "
          f"whole stream p99 {overall[int(0.99 * (len(overall) - 1))]:.1f} ms, max {overall[-1]:.1f} ms")
    print(f"  server CPU {result['cpu_s']:.1f} s over {wall:.0f} s = {per_call_cpu:.2f}% of a core per call; "
          f"memory {result['rss_idle'] / 2**20:.0f} MiB idle, {result['rss_connected'] / 2**20:.0f} MiB with calls "
          f"= {per_call_rss:.0f} KiB per call, {result['rss_end'] / 2**20:.0f} MiB at the end")
    print(f"  the callers' process used {result['client_cpu_s']:.1f} s of CPU, everything else on the machine "
          f"{others:.1f} s ({result['machine_cpu_s'] / wall * 50:.0f}% of the 2 cores busy "
          f"in all); load average {result['load'][0]:.1f} -> {result['load'][1]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
