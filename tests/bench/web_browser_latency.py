"""Benchmark `browser mouth-to-ear`: the phone benchmark's caller sentences said into a real Chromium's fake
microphone on the demo page (``/web-demo`` with the ``<parley-widget>``), alternating with phone calls on the
same local stack, same engines and same agent.

``python -m tests.bench.web_browser_latency [--calls 3] [--turns 8] [--gap 8]`` (``make bench``).

The local stack runs as ``make dev`` runs it (``devstack.launch``: embedded AWS, API, streaming service with
Silero VAD and the configured local engines). One agent, the phone benchmark's bakery (same prompt, welcome
and default silence timeout), has its widget enabled for the API's origin. One caller WAV holds ``--turns``
of the phone benchmark's sentences (Piper, trimmed as there), each followed by ``--gap`` seconds of silence
so the agent's reply ends before the next sentence; Chromium plays it once (``%noloop``) into the page's
microphone. Each web call is a fresh Chromium on ``/web-demo?agent_id=N&public_key=K``; the widget measures
in the page, with WebAudio, per agent reply: the caller's mic last audible -> the agent's audio first audible
(``element.metrics.turns``). Echo cancellation is off (``echo-cancellation="off"``): no speaker reaches the fake
microphone, and Chrome's canceller would otherwise clip the caller's speech while the agent talks.

Phone calls are ``voice_latency.run_phone_call`` (Twilio media stream, the phone benchmark's turns and
mouth-to-ear) on the same streaming process, alternating with the web calls (after a one-turn warm-up
call), so both paths see the same engines, warmth and machine load. Printed, p50/p95:
- browser mouth-to-ear (the widget's figure), the phone mouth-to-ear, and the difference of the p50s;
- for each path the service's own figure (end of speech as the service heard it -> first agent frame out) and
  the difference per turn: what the path adds outside the service, both ways;
- the browser's receive side from ``RTCPeerConnection.getStats()`` (jitter buffer average delay, target and
  minimum delay, concealment, playout delay), the AudioContext latency, and how regularly the page's 10 ms
  timers ran (the widget polls its analysers with ``setInterval``);
- reply lengths (the page's own analyser on the received track) and replies that were still playing when
  the caller's next sentence began (those turns would be barge-ins, not like for like).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import requests

from tests.bench.caller_turns import (
    SENTENCES,
    CallRun,
    bakery_agent_config,
    caller_speech,
    engine_names,
    line,
    pct,
    wait_for_turn_metrics,
)
from tests.bench.streaming_stack import machine_cpu_s
from tests.bench.voice_latency import PHONE_RATE, print_stages, run_phone_call
from tests.bench.web_latency import transport_ms

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

T = TypeVar("T")
WAV_RATE = 16000  # Chromium's fake capture takes any PCM16 mono rate
LEAD_SILENCE_S = 6.0  # connection and the welcome ("Hello, thank you for calling Parley Bakery.") first
TABLE_PREFIX = "parley-web-browser-latency"
PHONE_CALL_IDS = 1_200_000  # a multiple of len(SENTENCES), far above the API's own call ids

# Installed before the page's own scripts: every RTCPeerConnection the page makes (for getStats), an
# AudioContext made in the start click (a user gesture, as the widget's own), and a watcher of the received
# track (reply starts and ends, with the widget's threshold and hangover) that also records how late its 10 ms
# timer fires. Nothing here changes what the widget does.
PROBE_JS = """
(() => {
  const bench = (window.__bench = { pcs: [], agent: [], timerGaps: [], ctx: null });
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(...args) { super(...args); bench.pcs.push(this); }
  };
  document.addEventListener("click", () => {
    if (!bench.ctx) { bench.ctx = new AudioContext(); bench.ctx.resume().catch(() => {}); }
  }, true);
  bench.watch = () => {
    const receiver = bench.pcs[0].getReceivers().find((r) => r.track && r.track.kind === "audio");
    const source = bench.ctx.createMediaStreamSource(new MediaStream([receiver.track]));
    const analyser = bench.ctx.createAnalyser();
    analyser.fftSize = 512;
    const mute = bench.ctx.createGain();
    mute.gain.value = 0;
    source.connect(analyser).connect(mute).connect(bench.ctx.destination);
    const samples = new Float32Array(analyser.fftSize);
    let previous = null, current = null;
    bench.timer = setInterval(() => {
      const now = performance.now();
      if (previous !== null) bench.timerGaps.push(now - previous);
      previous = now;
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const s of samples) sum += s * s;
      if (Math.sqrt(sum / samples.length) >= 0.01) {
        if (current === null) { current = { start: now, end: now }; bench.agent.push(current); }
        current.end = now;
      } else if (current !== null && now - current.end > 250) {
        current = null;
      }
    }, 10);
  };
  bench.stats = async () => {
    const out = { inbound: null, playout: null, pair: null };
    const report = await bench.pcs[0].getStats();
    report.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "audio") out.inbound = s;
      if (s.type === "media-playout") out.playout = s;
      if (s.type === "candidate-pair" && s.nominated) out.pair = s;
    });
    return { ...out, baseLatency: bench.ctx.baseLatency, outputLatency: bench.ctx.outputLatency,
             sampleRate: bench.ctx.sampleRate };
  };
})();
"""


@dataclass
class BrowserCall:
    call_id: int | None = None
    turns: list[dict[str, float]] = field(default_factory=list)  # the widget's metrics.turns
    replies: list[dict[str, float]] = field(default_factory=list)  # the probe's agent audio intervals
    stats: dict[str, Any] = field(default_factory=dict)
    timer_gaps: list[float] = field(default_factory=list)


def caller_wav(path: Path, spoken: dict[str, bytes], first: int, turns: int, gap_s: float
               ) -> tuple[Path, list[tuple[float, float]]]:
    """The fake microphone's file: lead silence, then ``turns`` sentences from ``SENTENCES[first]`` on (as the
    phone caller says them), each followed by ``gap_s`` of silence; also when each sentence starts and ends
    (seconds into the file)."""
    from tests.browser.caller_audio import silence, write_wav

    pcm, schedule = bytearray(silence(LEAD_SILENCE_S, WAV_RATE)), []
    for turn in range(turns):
        start = len(pcm) / 2 / WAV_RATE
        pcm += spoken[SENTENCES[(first + turn) % len(SENTENCES)]]
        schedule.append((start, len(pcm) / 2 / WAV_RATE))
        pcm += silence(gap_s, WAV_RATE)
    return write_wav(path, bytes(pcm), WAV_RATE), schedule


def browser_call(browser: Browser, base: str, agent_id: int, public_key: str, turns: int,
                 wav_seconds: float) -> BrowserCall:
    """One call from the demo page: the WAV plays once; returns once every sentence was answered and heard."""
    context = browser.new_context()
    context.add_init_script(PROBE_JS)
    page: Page = context.new_page()
    page.on("pageerror", lambda err: print(f"  [browser pageerror] {err}", flush=True))
    result = BrowserCall()
    try:
        page.goto(f"{base}/web-demo?agent_id={agent_id}&public_key={public_key}")
        page.wait_for_function("customElements.get('parley-widget') !== undefined")
        page.evaluate("document.querySelector('parley-widget').setAttribute('echo-cancellation', 'off')")
        started = time.monotonic()
        page.click("#parley-start")
        page.wait_for_function("['listening', 'agent_speaking'].includes("
                               "document.querySelector('parley-widget').state)", timeout=30000)
        page.evaluate("window.__bench.watch()")
        remaining_ms = 1000 * (wav_seconds - (time.monotonic() - started)) + 60000
        page.wait_for_function(f"document.querySelector('parley-widget').metrics.turns.length >= {turns}",
                               timeout=max(remaining_ms, 60000), polling=200)
        # The last reply played to its end: the page's analyser has heard nothing for a second.
        page.wait_for_function("(() => { const a = window.__bench.agent; "
                               "return a.length && performance.now() - a[a.length - 1].end > 1000; })()",
                               timeout=60000, polling=100)
        result.turns = page.evaluate("document.querySelector('parley-widget').metrics.turns")
        result.call_id = page.evaluate("document.querySelector('parley-widget').callId")
        result.stats = page.evaluate("window.__bench.stats()")
        result.replies = page.evaluate("window.__bench.agent")
        result.timer_gaps = page.evaluate("window.__bench.timerGaps")
        state, reason = page.evaluate("[document.querySelector('parley-widget').state, "
                                      "document.querySelector('parley-widget').reason]")
        if state not in ("listening", "agent_speaking"):
            print(f"  [browser call {result.call_id} was over before the caller hung up: {state} ({reason})]")
        else:
            page.evaluate("document.querySelector('parley-widget').end()")
    finally:
        context.close()
    return result


def reply_after(call: BrowserCall, at: float) -> dict[str, float] | None:
    """The probe's agent audio interval that starts with the widget's reply at ``at`` (same page clock)."""
    return min((r for r in call.replies if r["end"] >= at - 20), key=lambda r: abs(r["start"] - at), default=None)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def browser_receive_side(calls: list[BrowserCall]) -> list[str]:
    """The receive side's figures, from getStats (averaged over the calls)."""
    def ratio(section: str, numerator: str, denominator: str) -> float | None:
        values = [1000 * c.stats[section][numerator] / c.stats[section][denominator] for c in calls
                  if (c.stats.get(section) or {}).get(denominator)]
        return _mean(values)

    rows = []
    for name, section, numerator, denominator in (
            ("jitter buffer average delay", "inbound", "jitterBufferDelay", "jitterBufferEmittedCount"),
            ("jitter buffer target delay", "inbound", "jitterBufferTargetDelay", "jitterBufferEmittedCount"),
            ("jitter buffer minimum delay", "inbound", "jitterBufferMinimumDelay", "jitterBufferEmittedCount"),
            ("playout delay (media-playout)", "playout", "totalPlayoutDelay", "totalSamplesCount")):
        value = ratio(section, numerator, denominator)
        rows.append(f"  {name:<34} {'n/a' if value is None else f'{value:7.1f} ms'}")
    concealed = [c.stats["inbound"].get("concealedSamples", 0) / max(1, c.stats["inbound"].get("totalSamplesReceived",
                 1)) for c in calls if c.stats.get("inbound")]
    jitter = [1000 * c.stats["inbound"].get("jitter", 0) for c in calls if c.stats.get("inbound")]
    rtt = [1000 * c.stats["pair"]["currentRoundTripTime"] for c in calls
           if (c.stats.get("pair") or {}).get("currentRoundTripTime") is not None]
    base = [1000 * c.stats["baseLatency"] for c in calls if c.stats.get("baseLatency") is not None]
    output = [1000 * c.stats["outputLatency"] for c in calls if c.stats.get("outputLatency") is not None]
    rows.append(f"  concealed samples {100 * (_mean(concealed) or 0):.2f} %, RTP jitter {_mean(jitter) or 0:.1f} ms, "
                f"ICE round trip {_mean(rtt) or 0:.1f} ms, AudioContext base latency {_mean(base) or 0:.1f} ms, "
                f"output latency {_mean(output) or 0:.1f} ms")
    return rows


def _transport_ms(m2e_by_call: dict[int, list[float]], metrics: dict[int, list[dict[str, Any]]]) -> list[float]:
    """Per turn: mouth-to-ear - the service's end of speech -> first frame, for calls whose counts line up."""
    differences = []
    for call_id, m2e in m2e_by_call.items():
        served = [m.get("first_audio_out_ms") for m in metrics.get(call_id, [])]
        if len(served) != len(m2e):
            continue
        differences += [ear - out for ear, out in zip(m2e, served, strict=True) if out is not None]
    return differences


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.web_browser_latency")
    parser.add_argument("--calls", type=int, default=3, help="calls per path (browser and phone)")
    parser.add_argument("--turns", type=int, default=8, help="caller sentences per call")
    parser.add_argument("--gap", type=float, default=7.0, help="silence after each sentence in the WAV (s)")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    from devstack.embedded_aws import LOCAL_CREDENTIALS
    from devstack.launch import local_stack
    from tests.browser.chromium import launched_chromium

    workdir = Path(tempfile.mkdtemp(prefix="parley-web-browser-latency-"))
    print("synthesizing caller speech...", flush=True)
    spoken = caller_speech([WAV_RATE, PHONE_RATE])
    # Call k (each path) says the sentences from SENTENCES[k * turns] on: the phone caller picks
    # SENTENCES[(call_id + turn) % 12], so its call ids are chosen to match.
    wavs = [caller_wav(workdir / f"caller-{k}.wav", spoken[WAV_RATE], k * args.turns, args.turns, args.gap)
            for k in range(args.calls)]
    wav_seconds = max(schedule[-1][1] for _, schedule in wavs) + args.gap
    secret = secrets.token_urlsafe(32)
    print("starting the local stack (devstack)...", flush=True)
    with local_stack(workdir, env={"PARLEY_STREAM_TOKEN_SECRET": secret, "PARLEY_TABLE_PREFIX": TABLE_PREFIX}) \
            as stack:
        os.environ.update(LOCAL_CREDENTIALS)
        os.environ.update({"AWS_ENDPOINT_URL": stack["aws_endpoint_url"], "PARLEY_TABLE_PREFIX": TABLE_PREFIX})
        from chalicelib.db.models import Call
        from chalicelib.telephony import stream_tokens

        base = stack["api_url"].removesuffix("/api/v1")
        account = int(stack["account_id"])
        created = requests.post(f"{stack['api_url']}/agents/create", timeout=10,
                                headers={"Authorization": f"Bearer {stack['api_key']}"},
                                json={"name": "Bakery (bench)", **bakery_agent_config(),
                                      "web_widget": {"enabled": True, "allowed_origins": [base]}})
        created.raise_for_status()
        agent = created.json()
        agent_id, public_key = agent["id"], agent["web_widget"]["public_key"]

        def phone_run(call_id: int, turns: int) -> CallRun:
            run = CallRun(call_id)
            Call(account, run.call_id, agent_key=f"{account}#{agent_id}", agent_id=agent_id, to_number="+15550100",
                 status="ringing", channel="phone").save()
            asyncio.run(run_phone_call(stack["streaming_url"], run.call_id,
                                       stream_tokens.issue(secret, account, run.call_id), turns, spoken[PHONE_RATE],
                                       run))
            return run

        phone: list[CallRun] = []
        web: list[BrowserCall] = []
        busy = {"browser": [0.0, 0.0], "phone": [0.0, 0.0]}  # machine CPU seconds, wall seconds

        def timed(path: str, work: Callable[[], T]) -> T:
            cpu, wall = machine_cpu_s(), time.monotonic()
            try:
                return work()
            finally:
                busy[path][0] += machine_cpu_s() - cpu
                busy[path][1] += time.monotonic() - wall
        print(f"stack up; warm-up phone call, then {args.calls} browser + {args.calls} phone calls x {args.turns} "
              f"turns, alternating (WAV {wav_seconds:.0f} s: {args.gap:.0f} s after each sentence)...", flush=True)
        load_start = os.getloadavg()
        # Playwright's sync API keeps an event loop on this thread: the phone calls run theirs on another.
        with ThreadPoolExecutor(1, thread_name_prefix="phone") as pool, sync_playwright() as driver:
            pool.submit(phone_run, PHONE_CALL_IDS - 1, 1).result()  # the engines' first turns are slower: not counted
            for index, (wav, _) in enumerate(wavs):
                phone_id = PHONE_CALL_IDS + index * args.turns
                if index % 2:
                    phone.append(timed("phone", pool.submit(phone_run, phone_id, args.turns).result))
                with launched_chromium(driver, wav) as browser:
                    web.append(timed("browser", lambda: browser_call(browser, base, agent_id, public_key, args.turns,
                                                                     wav_seconds)))
                print(f"  browser call {web[-1].call_id}: {[t['mouthToEarMs'] for t in web[-1].turns]}", flush=True)
                if not index % 2:
                    phone.append(timed("phone", pool.submit(phone_run, phone_id, args.turns).result))
                print(f"  phone call {phone[-1].call_id}: {[s.mouth_to_ear_ms for s in phone[-1].samples]}",
                      flush=True)
        load_end = os.getloadavg()
        records = wait_for_turn_metrics(account, [c.call_id for c in web if c.call_id] + [r.call_id for r in phone])
    metrics = {call.call_id: call.turn_metrics or [] for call in records}
    report(args, web, phone, metrics, [schedule for _, schedule in wavs], (load_start, load_end))
    cores = os.cpu_count() or 1
    print("  machine CPU busy (all processes, hypervisor steal included) during the browser calls "
          f"{100 * busy['browser'][0] / max(busy['browser'][1], 1e-9) / cores:.0f} %, during the phone calls "
          f"{100 * busy['phone'][0] / max(busy['phone'][1], 1e-9) / cores:.0f} % of {cores} cores "
          "(Chromium shares the engines' cores: the service's own figure rises with it)")
    return 0


def report(args: argparse.Namespace, web: list[BrowserCall], phone: list[CallRun],
           metrics: dict[int, list[dict[str, Any]]], schedules: list[list[tuple[float, float]]],
           load: tuple[tuple[float, ...], tuple[float, ...]]) -> None:
    browser_m2e = [float(t["mouthToEarMs"]) for c in web for t in c.turns]
    phone_m2e = [s.mouth_to_ear_ms for r in phone for s in r.samples if s.mouth_to_ear_ms is not None]
    print(f"browser mouth-to-ear: {len(web)} calls from the demo page in Chromium (fake microphone, "
          f"echo-cancellation=\"off\": no speaker reaches the fake mic, Chrome's canceller would clip the caller) "
          f"and {len(phone)} phone calls, alternating, one local stack (devstack), local engines "
          f"({engine_names()}), the phone benchmark's bakery agent and default silence timeout")
    print(f"  turns answered per browser call: {[len(c.turns) for c in web]} of {args.turns} sentences")
    print(" browser (WebRTC in Chromium, measured in the page with WebAudio):")
    print(line("mouth-to-ear (page's clock)", browser_m2e))
    web_metrics = [m for c in web if c.call_id for m in metrics.get(c.call_id, [])]
    print(line("service: end of speech -> 1st frame", [m["first_audio_out_ms"] for m in web_metrics
                                                        if m.get("first_audio_out_ms") is not None]))
    print(line("outside the service, both ways", _transport_ms(
        {c.call_id: [float(t["mouthToEarMs"]) for t in c.turns] for c in web if c.call_id}, metrics)))
    print_stages(web_metrics)
    print(" phone (Twilio protocol, voice_latency's caller):")
    print(line("mouth-to-ear (caller's clock)", phone_m2e))
    phone_metrics = [m for r in phone for m in metrics.get(r.call_id, [])]
    print(line("service: end of speech -> 1st frame", [m["first_audio_out_ms"] for m in phone_metrics
                                                        if m.get("first_audio_out_ms") is not None]))
    print(line("outside the service, both ways", transport_ms(phone, metrics)))
    print_stages(phone_metrics)
    if browser_m2e and phone_m2e:
        difference = pct(browser_m2e, 0.5) - pct(phone_m2e, 0.5)
        print(f"  browser p50 - phone p50: {difference:+.1f} ms   target <= +100 ms")
    print(" browser receive side (RTCPeerConnection.getStats, averaged over the calls):")
    for row in browser_receive_side(web):
        print(row)
    gaps = [g for c in web for g in c.timer_gaps]
    if gaps:
        print(f"  page's 10 ms timer: p50 {pct(gaps, 0.5):.1f} ms, p99 {pct(gaps, 0.99):.1f} ms, "
              f"max {max(gaps):.1f} ms (the widget polls its analysers the same way; rAF is not used)")
    # Reply lengths, and replies still playing when the caller's next sentence began.
    lengths, overlapping, drift = [], 0, []
    for call, schedule in zip(web, schedules, strict=True):
        for index, turn in enumerate(call.turns):
            reply = reply_after(call, turn["agentAudioAt"])
            if reply is None:
                continue
            lengths.append(reply["end"] - reply["start"])
            if index + 1 < min(len(call.turns), len(schedule)):
                next_start = turn["micSpeechEndAt"] + 1000 * (schedule[index + 1][0] - schedule[index][1])
                overlapping += reply["end"] > next_start
        ends = [t["micSpeechEndAt"] for t in call.turns]
        if len(ends) == len(schedule):  # mic speech end as the widget saw it vs the WAV's schedule
            drift += [ends[i] - ends[0] - 1000 * (schedule[i][1] - schedule[0][1]) for i in range(len(ends))]
    print(line("agent reply length", lengths) + f"   replies still playing at the next sentence: {overlapping}")
    if drift:
        print(f"  widget's mic speech end vs the WAV's sentence ends: spread {min(drift):+.0f} .. {max(drift):+.0f} ms")
    print(f"  machine load average (1/5/15 min) {'/'.join(f'{v:.1f}' for v in load[0])} at the start, "
          f"{'/'.join(f'{v:.1f}' for v in load[1])} at the end")


if __name__ == "__main__":
    sys.exit(main())
