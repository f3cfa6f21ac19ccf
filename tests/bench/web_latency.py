"""Benchmark `web latency`: the phone benchmark's caller turns through the WebRTC transport, side by side
with the same turns over the Twilio protocol, against one streaming service with the local engines.

``python -m tests.bench.web_latency [--calls 4] [--turns 6]`` (``make bench``).

The service runs as in the local stack (Silero VAD and the configured local engines; embedded AWS). Web
callers are aiortc peers (``devstack.web_peer``: Opus 48 kHz both ways, DTLS-SRTP on loopback); phone
callers are ``voice_latency``'s Twilio media streams. After a warm-up call, calls alternate (web, phone,
phone, web, ...) one at a time, so both paths see the same engines, warmth and machine load. Printed per
path, p50/p95:
- mouth-to-ear: the caller's last speech frame leaving its microphone -> the first agent audio frame
  reaching the caller (web: decoded from Opus, out of aiortc's jitter buffer; phone: the first media message);
- the service's own figure for the same turns (first agent frame handed to the transport, ms after the
  end of speech as the service heard it) and the difference: what each transport adds, both ways (web:
  aiortc's receivers hold 4 frames, 80 ms, in their jitter buffer before decoding, at both ends; the
  outbound track picks a frame up at its next 20 ms tick);
- barge-in: caller speech over the reply -> the service's sign that it stopped the agent (web: the
  ``barge_in`` data-channel message; phone: ``clear``).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import TYPE_CHECKING, Any

import aiohttp

from tests.bench.caller_turns import (
    CallRun,
    bakery_agent_config,
    caller_speech,
    engine_names,
    line,
    pct,
    run_turns,
    wait_for_turn_metrics,
)
from tests.bench.voice_latency import PHONE_RATE, print_stages, run_phone_call

if TYPE_CHECKING:  # devstack.web_peer imports the models: only once bench_stack has set the table prefix
    from devstack.web_peer import WebPeer

AUDIBLE_RMS = 20.0  # a decoded frame above this is agent audio (Opus-coded digital silence decodes to ~0)
WARM_UP_CALL = 199
TALK_HANGOVER_S = 0.3  # as the phone caller's: agent speech this recent counts as the agent talking


class WebCaller:
    """:class:`tests.bench.caller_turns.Caller` as a browser: a :class:`WebPeer` and its data channel."""

    def __init__(self, peer: WebPeer, audio: dict[str, bytes]) -> None:
        from devstack.web_peer import SPEECH_RMS

        self.speech_rms = SPEECH_RMS
        self.peer = peer
        self.audio = audio
        self.acks: list[float] = []
        self.said_at = 0.0
        self._scanned = 0
        self._last_speech: float | None = None
        peer.channel.on("message", self._on_message)

    def _on_message(self, message: Any) -> None:
        if isinstance(message, str) and '"barge_in"' in message:
            self.acks.append(time.monotonic())

    def say(self, text: str) -> None:
        self.said_at = time.monotonic()
        self.peer.say(self.audio[text])

    async def wait_sent(self) -> None:
        await self.peer.wait_for(lambda: not self.peer.mic.speaking, timeout=30)

    def last_speech_sent(self, since: float) -> float | None:
        sent = self.peer.mic.last_speech_sent_at  # the speech is trimmed: its last frame is loud
        return sent if sent is not None and sent >= since else None

    async def wait_agent_speech(self, timeout: float) -> None:
        await self.peer.wait_for(lambda: self.peer.first_speech_after(self.said_at) is not None, timeout)

    def last_agent_speech(self) -> float | None:
        frames = self.peer.frames
        for frame in frames[self._scanned:len(frames)]:
            if frame.rms > self.speech_rms:
                self._last_speech = frame.at
        self._scanned = len(frames)
        return self._last_speech

    async def wait_agent_silence(self, seconds: float, timeout: float) -> None:
        since = time.monotonic() - TALK_HANGOVER_S

        def quiet() -> bool:
            last = self.last_agent_speech()
            return last is not None and last >= since and time.monotonic() - last >= seconds
        await self.peer.wait_for(quiet, timeout)

    def first_agent_audio_after(self, t: float) -> float | None:
        return next((f.at for f in self.peer.frames if f.at > t and f.rms > AUDIBLE_RMS), None)

    def barge_in_acks(self) -> list[float]:
        return self.acks

    def first_speech_sent_after(self, t: float) -> float:
        return self.said_at  # the microphone sends it at its next 20 ms tick: counts up to 20 ms more


async def run_web_call(offer_url: str, call_id: int, token: str, turns: int, audio: dict[str, bytes],
                       run: CallRun, http: aiohttp.ClientSession) -> float:
    """One web call; returns the loudest frame the caller received before the welcome (the silence floor)."""
    from devstack.web_peer import WebPeer

    peer = await WebPeer.connect(offer_url, call_id, token, http, keep_audio=False)
    try:
        caller = WebCaller(peer, audio)
        await run_turns(caller, call_id, turns, run)
        welcome = peer.first_speech_after(0) or 0.0
        return max((f.rms for f in peer.frames if f.at < welcome - 0.1), default=0.0)
    finally:
        await peer.hang_up()


def transport_ms(runs: list[CallRun], metrics: dict[int, list[dict[str, Any]]]) -> list[float]:
    """Per caller turn: mouth-to-ear - the service's end of speech -> first frame. The service also counts the
    caller's barge-in utterances as turns (after every third turn): calls where that does not add up are left out."""
    differences = []
    for run in runs:
        served = metrics[run.call_id]
        if len(served) != len(run.samples) + len(run.samples) // 3:
            continue
        for index, sample in enumerate(run.samples):
            first_out = served[index + index // 3].get("first_audio_out_ms")
            if sample.mouth_to_ear_ms is not None and first_out is not None:
                differences.append(sample.mouth_to_ear_ms - first_out)
    return differences


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.web_latency")
    parser.add_argument("--calls", type=int, default=4, help="calls per path (web and phone)")
    parser.add_argument("--turns", type=int, default=6)
    args = parser.parse_args(argv)

    from tests.bench.streaming_stack import bench_stack

    with bench_stack("parley-web-latency", "web-latency-secret") as stack:
        from chalicelib.db.models import Agent, Call
        from chalicelib.telephony import stream_tokens
        from devstack.web_peer import RATE as WEB_RATE

        Agent(1, 1, name="Bakery", config=bakery_agent_config()).save()
        web = [CallRun(200 + 2 * i) for i in range(args.calls)]
        phone = [CallRun(201 + 2 * i) for i in range(args.calls)]
        for run, channel in [*((r, "web") for r in web), *((r, "phone") for r in [CallRun(WARM_UP_CALL), *phone])]:
            Call(1, run.call_id, agent_key="1#1", agent_id=1, to_number="+15550100", status="ringing",
                 channel=channel).save()
        print("synthesizing caller speech...", flush=True)
        audio = caller_speech([WEB_RATE, PHONE_RATE])
        streaming = stack.start_streaming("parley-bench-web-latency.log")
        print(f"streaming service up; {args.calls} web + {args.calls} phone calls x {args.turns} turns...",
              flush=True)
        floors: list[float] = []

        async def phone_call(run: CallRun, turns: int) -> None:
            await run_phone_call(streaming.ws_url, run.call_id, stream_tokens.issue(stack.secret, 1, run.call_id),
                                 turns, audio[PHONE_RATE], run)

        async def all_calls() -> None:
            await phone_call(CallRun(WARM_UP_CALL), 1)  # the engines' first turns are slower: not counted
            async with aiohttp.ClientSession() as http:
                for index, (web_run, phone_run) in enumerate(zip(web, phone, strict=True)):  # one call at a time
                    if index % 2:
                        await phone_call(phone_run, args.turns)
                    token = stream_tokens.issue(stack.secret, 1, web_run.call_id, ttl_seconds=60)
                    floors.append(await run_web_call(f"{streaming.url}/web/offer", web_run.call_id, token,
                                                     args.turns, audio[WEB_RATE], web_run, http))
                    if not index % 2:
                        await phone_call(phone_run, args.turns)
        load_start = os.getloadavg()[0]
        asyncio.run(all_calls())
        load_end = os.getloadavg()[0]
        records = wait_for_turn_metrics(1, [r.call_id for r in [*web, *phone]])

    metrics = {call.call_id: call.turn_metrics or [] for call in records}
    print(f"web latency: {args.calls} web calls and {args.calls} phone calls x {args.turns} caller turns, "
          f"alternating, one streaming process, local engines ({engine_names()})")
    p50s = {}
    for name, runs in (("web (WebRTC, Opus 48 kHz)", web), ("phone (Twilio protocol)", phone)):
        m2e = [s.mouth_to_ear_ms for r in runs for s in r.samples if s.mouth_to_ear_ms is not None]
        path_metrics = [m for r in runs for m in metrics[r.call_id]]
        served = [m["first_audio_out_ms"] for m in path_metrics if m.get("first_audio_out_ms") is not None]
        print(f" {name}:")
        print(line("mouth-to-ear (caller's clock)", m2e))
        print(line("service: end of speech -> 1st frame", served))
        print(line("transport, both ways (per turn)", transport_ms(runs, metrics)))
        if m2e:
            p50s[name] = pct(m2e, 0.5)
        print_stages(path_metrics)
        print(line("barge-in: speech -> stop sign", [s.barge_in_ms for r in runs for s in r.samples
                                                     if s.barge_in_ms is not None]))
    if len(p50s) == 2:
        web_p50, phone_p50 = p50s.values()
        print(f"  web p50 - phone p50: {web_p50 - phone_p50:+.1f} ms   target <= +100 ms")
    print(f"  machine load average (1 min) {load_start:.1f} at the start, {load_end:.1f} at the end")
    print(f"  loudest frame before the welcome (decoded silence): rms {max(floors, default=0.0):.1f} "
          f"(agent audio counts above {AUDIBLE_RMS})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
