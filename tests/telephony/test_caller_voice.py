"""The carrier simulator's scripted caller: answered calls speak on their Media Stream.

A fake agent (an aiohttp Media Streams server on its own loop thread) greets, replies after each
caller turn, and sends ``clear`` when the caller talks over it (barge-in). Calls are placed through
the simulator's REST API and inspected through ``/sim/calls``.
"""
from __future__ import annotations

import asyncio
import base64
import json
import math
import threading
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests

pytest.importorskip("aiohttp")
from aiohttp import web

from devstack.carrier_sim import CarrierSimulator, SimRules
from devstack.carrier_sim.caller_voice import MediaLoop, caller_voice
from devstack.carrier_sim.media_factory import scripted_media_factory
from devstack.carrier_sim.scripts import DEFAULT_SCRIPT, DEFAULT_SCRIPT_JSON, ScriptError, parse_script
from streaming.audio import mulaw_to_pcm16, pcm16_to_mulaw, rms

ACCOUNT, TOKEN = "AC" + "c3" * 16, "voice-token"
FROM, TO = "+15005550006", "+15551230001"
CLOSER = "+15551230002"  # the fake agent hangs up on this call after its greeting


def tone(seconds: float, freq: float = 330.0, amp: float = 9000.0) -> bytes:
    return b"".join(int(amp * math.sin(2 * math.pi * freq * i / 8000)).to_bytes(2, "little", signed=True)
                    for i in range(int(seconds * 8000)))


# --------------------------------------------------------------------------------------------
# A fake agent on its own thread
# --------------------------------------------------------------------------------------------

@dataclass
class AgentLog:
    """What one stream did, as the agent saw it."""

    start: dict[str, Any] | None = None
    events: list[tuple[float, str]] = field(default_factory=list)
    speech_frames: int = 0
    frames: int = 0
    marks: list[str] = field(default_factory=list)
    dtmf: list[str] = field(default_factory=list)
    stopped: bool = False
    stopped_at: float | None = None  # wall clock, to order the stop against status callbacks

    def kinds(self) -> list[str]:
        return [kind for _, kind in self.events]


class FakeAgent:
    """Greets, answers each caller turn (0.5 s of caller silence ends a turn), and on barge-in
    (caller speech while its audio is still unplayed, i.e. its mark not yet echoed) sends clear."""

    def __init__(self, greeting_s: float = 0.6, reply_s: float = 1.2) -> None:
        self.greeting, self.reply = tone(greeting_s), tone(reply_s, freq=440)
        self.logs: list[AgentLog] = []
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(5)

    async def _serve(self) -> str:
        app = web.Application()
        app.router.add_get("/stream", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return f"ws://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/stream"  # type: ignore[union-attr]

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        log = AgentLog()
        self.logs.append(log)
        sid, pending, replies, in_speech, quiet, loud = "", None, 0, False, 0, 0

        async def say(pcm: bytes, mark: str) -> None:
            nonlocal pending
            payload = base64.b64encode(pcm16_to_mulaw(pcm)).decode()
            await ws.send_str(json.dumps({"event": "media", "streamSid": sid, "media": {"payload": payload}}))
            await ws.send_str(json.dumps({"event": "mark", "streamSid": sid, "mark": {"name": mark}}))
            pending = mark
            log.events.append((time.monotonic(), f"say:{mark}"))

        async for msg in ws:
            data = json.loads(msg.data)
            event = data["event"]
            if event == "start":
                log.start, sid = data, data["streamSid"]
                await say(self.greeting, "greeting")
            elif event == "media":
                log.frames += 1
                speech = rms(mulaw_to_pcm16(base64.b64decode(data["media"]["payload"]))) > 500
                log.speech_frames += speech
                loud = loud + 1 if speech else 0
                quiet = 0 if speech else quiet + 1
                if loud == 3:
                    in_speech = True
                    if pending is not None:
                        await ws.send_str(json.dumps({"event": "clear", "streamSid": sid}))
                        log.events.append((time.monotonic(), "clear"))
                if in_speech and quiet == 25:
                    in_speech, replies = False, replies + 1
                    await say(self.reply, f"reply-{replies}")
            elif event == "mark":
                log.marks.append(data["mark"]["name"])
                if data["mark"]["name"] == pending:
                    pending = None
                if data["mark"]["name"] == "greeting" and log.start["start"]["customParameters"].get("to") == CLOSER:
                    await ws.close()
            elif event == "dtmf":
                log.dtmf.append(data["dtmf"]["digit"])
            elif event == "stop":
                log.stopped, log.stopped_at = True, time.time()
                log.events.append((time.monotonic(), "stop"))
                break
        return ws


@pytest.fixture(scope="module")
def agent() -> Iterator[FakeAgent]:
    server = FakeAgent()
    yield server
    server.close()


def make_sim(tmp_path: Path, engine: str, rules: SimRules | None = None) -> CarrierSimulator:
    factory = scripted_media_factory(tmp_path / "recordings", engine=engine)
    return CarrierSimulator(rules or SimRules(answer_delay=0.05), media_factory=factory).start()


def place(sim: CarrierSimulator, agent: FakeAgent, to: str = TO, **params: str) -> str:
    twiml = (f'<Response><Connect><Stream url="{agent.url}"><Parameter name="call_id" value="7"/>'
             f'<Parameter name="to" value="{to}"/></Stream></Connect></Response>')
    response = requests.post(f"{sim.url}/2010-04-01/Accounts/{ACCOUNT}/Calls.json", auth=(ACCOUNT, TOKEN),
                             data={"To": to, "From": FROM, "Twiml": twiml, **params}, timeout=5)
    assert response.status_code == 201, response.text
    return response.json()["sid"]


def wait_final(sim: CarrierSimulator, sid: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        call = requests.get(f"{sim.url}/sim/calls/{sid}", timeout=5).json()
        if call["final"]:
            return call
        time.sleep(0.05)
    raise AssertionError(f"call {sid} did not end")


# --------------------------------------------------------------------------------------------
# Scripts
# --------------------------------------------------------------------------------------------

def test_script_format() -> None:
    steps = parse_script([{"wait_agent": True}, {"wait_agent": {"silence": 0.5, "timeout": 5}},
                          {"say": " Hello. "}, {"barge_in_after": 0.8, "say": "Sorry"}, {"pause": 1},
                          {"dtmf": "12#"}, {"hang_up": True}])
    assert [s.kind for s in steps] == ["wait_agent", "wait_agent", "say", "barge_in", "pause", "dtmf", "hang_up"]
    assert steps[1].seconds == 0.5 and steps[1].timeout == 5 and steps[2].text == "Hello."
    assert parse_script([s.to_json() for s in steps]) == steps
    assert parse_script(DEFAULT_SCRIPT_JSON) == DEFAULT_SCRIPT and len(DEFAULT_SCRIPT) == 7
    for bad in ("say hi", [{"say": ""}], [{"pause": -1}], [{"dtmf": "x"}], [{"shout": "hi"}],
                [{"wait_agent": False}], [{"hang_up": True, "say": "bye"}]):
        with pytest.raises(ScriptError):
            parse_script(bad)


def test_scripts_through_the_rules_api(tmp_path: Path) -> None:
    sim = make_sim(tmp_path, "tone")
    try:
        script = [{"say": "Hello"}, {"hang_up": True}]
        rules = {"answer_delay": 0.05, "script": script, "scripts": {TO: [{"pause": 0.5}]}}
        assert requests.put(f"{sim.url}/sim/rules", json=rules, timeout=5).status_code == 200
        got = requests.get(f"{sim.url}/sim/rules", timeout=5).json()
        assert got["script"] == script and got["scripts"] == {TO: [{"pause": 0.5}]}
        assert sim.rules.script_for(TO) == [{"pause": 0.5}] and sim.rules.script_for(CLOSER) == script
        bad = requests.put(f"{sim.url}/sim/rules", json={"scripts": {TO: [{"sing": "la"}]}}, timeout=5)
        assert bad.status_code == 400 and "unknown script step" in bad.json()["error"]
        assert requests.put(f"{sim.url}/sim/rules", json={"scripts": {"12": []}}, timeout=5).status_code == 400
    finally:
        sim.stop()


# --------------------------------------------------------------------------------------------
# Calls
# --------------------------------------------------------------------------------------------

def test_scripted_call_runs_through_the_simulator(tmp_path: Path, agent: FakeAgent) -> None:
    script = [{"wait_agent": {"silence": 0.4}}, {"say": "Hello"},
              {"barge_in_after": 0.3, "say": "Wait"}, {"wait_agent": {"silence": 0.4}},
              {"dtmf": "1"}, {"hang_up": True}]
    sim = make_sim(tmp_path, "tone", SimRules(answer_delay=0.05, scripts={TO: script}))
    try:
        before = len(agent.logs)
        sid = place(sim, agent)
        call = wait_final(sim, sid)
        assert call["status"] == "completed" and call["ended_by"] == "callee"
        media = call["media"]
        assert media["connected"] and media["script_finished"] and media["error"] is None
        assert media["stream_url"] == agent.url and not media["closed_by_server"]
        assert [step["ok"] for step in media["steps"]] == [True] * 5
        assert media["clears"] == 1 and media["marks_received"] == 3 and media["marks_sent"] == 3
        assert media["frames_sent"] > 100 and media["speech_frames_sent"] == 40 and media["frames_received"] == 3
        assert 19 <= media["mean_frame_gap_ms"] <= 21
        assert len(media["caller_turns"]) == 2 and media["dtmf_sent"] == 1

        log = agent.logs[before]
        assert log.start["start"]["callSid"] == sid and log.start["start"]["customParameters"]["call_id"] == "7"
        assert log.stopped and log.dtmf == ["1"]
        assert log.kinds() == ["say:greeting", "say:reply-1", "clear", "say:reply-2", "stop"]
        assert log.marks == ["greeting", "reply-1", "reply-2"]

        with wave.open(media["recording"]) as wav:
            assert wav.getnchannels() == 1 and wav.getframerate() == 8000
            assert wav.getnframes() == 160 * media["frames_sent"]
        with wave.open(media["recordings"]["stereo_wav"]) as wav:
            assert wav.getnchannels() == 2
    finally:
        sim.stop()


def test_stream_closed_by_the_server_ends_the_call_and_api_hang_up_stops_the_stream(
        tmp_path: Path, agent: FakeAgent) -> None:
    sim = make_sim(tmp_path, "tone")
    try:
        before = len(agent.logs)
        call = wait_final(sim, place(sim, agent, to=CLOSER), timeout=10)
        assert call["ended_by"] == "stream-ended" and call["media"]["closed_by_server"]
        assert not call["media"]["script_finished"]

        sid = place(sim, agent)
        deadline = time.monotonic() + 5
        while not requests.get(f"{sim.url}/sim/calls/{sid}", timeout=5).json()["media"] \
                or not requests.get(f"{sim.url}/sim/calls/{sid}", timeout=5).json()["media"]["connected"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        hung = requests.post(f"{sim.url}/2010-04-01/Accounts/{ACCOUNT}/Calls/{sid}.json", auth=(ACCOUNT, TOKEN),
                             data={"Status": "completed"}, timeout=5)
        assert hung.status_code == 200
        call = wait_final(sim, sid)
        assert call["ended_by"] == "api"
        deadline = time.monotonic() + 3
        while not agent.logs[before + 1].stopped:
            assert time.monotonic() < deadline, "the stream got no stop"
            time.sleep(0.05)
    finally:
        sim.stop()


@dataclass
class StatusCallbacks:
    """A webhook endpoint recording when each status callback arrived (wall clock) and its parameters."""

    url: str
    received: list[tuple[float, dict[str, str]]]

    def final_of(self, sid: str) -> float | None:
        return next((at for at, p in self.received if p["CallSid"] == sid and p["CallStatus"] == "completed"), None)


@pytest.fixture()
def status_callbacks() -> Iterator[StatusCallbacks]:
    received: list[tuple[float, dict[str, str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            received.append((time.time(), {k: v[0] for k, v in parse_qs(body).items()}))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield StatusCallbacks(f"http://127.0.0.1:{server.server_address[1]}/status", received)
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("delay", [1.5, -1.5], ids=["callback-after-stream-stop", "callback-before-stream-stop"])
def test_final_callback_delay_orders_the_completed_callback_and_the_stream_stop(
        tmp_path: Path, agent: FakeAgent, status_callbacks: StatusCallbacks, delay: float) -> None:
    rules = SimRules(answer_delay=0.05, scripts={TO: [{"pause": 0.3}, {"hang_up": True}]},
                     final_callback_delay=delay)
    sim = make_sim(tmp_path, "tone", rules)
    try:
        assert requests.get(f"{sim.url}/sim/rules", timeout=5).json()["final_callback_delay"] == delay
        before = len(agent.logs)
        sid = place(sim, agent, StatusCallback=status_callbacks.url)
        deadline = time.monotonic() + 10
        while status_callbacks.final_of(sid) is None or len(agent.logs) <= before \
                or agent.logs[before].stopped_at is None:
            assert time.monotonic() < deadline, "no stop on the stream, or no completed callback"
            time.sleep(0.05)
        stopped_at, completed_at = agent.logs[before].stopped_at, status_callbacks.final_of(sid)
        assert stopped_at is not None and completed_at is not None
        if delay > 0:  # real carriers: the stream's stop, then the final status
            assert stopped_at < completed_at
        else:  # the reverse: the call is reported completed while its stream is still open
            assert completed_at < stopped_at
        call = wait_final(sim, sid)
        assert call["ended_by"] == "callee" and call["media"]["script_finished"]
        # The receiver has the callback; the simulator records it once the receiver's answer is back.
        deadline = time.monotonic() + 5
        while not call["callbacks"] or call["callbacks"][-1]["http_status"] is None:
            assert time.monotonic() < deadline, "the simulator never recorded the callback's answer"
            time.sleep(0.05)
            call = requests.get(f"{sim.url}/sim/calls/{sid}", timeout=5).json()
        assert [cb["call_status"] for cb in call["callbacks"]] == ["completed"]
        assert call["callbacks"][0]["http_status"] == 204
    finally:
        sim.stop()


def test_final_callback_delay_is_validated(tmp_path: Path) -> None:
    sim = make_sim(tmp_path, "tone")
    try:
        for bad in (True, "soon", 61, -61):
            response = requests.put(f"{sim.url}/sim/rules", json={"final_callback_delay": bad}, timeout=5)
            assert response.status_code == 400 and "final_callback_delay" in response.json()["error"], bad
        assert "final_callback_delay" not in requests.get(f"{sim.url}/sim/rules", timeout=5).json()
    finally:
        sim.stop()


def test_calls_without_connect_stream_keep_the_talk_time(tmp_path: Path) -> None:
    sim = make_sim(tmp_path, "tone", SimRules(answer_delay=0.05, talk_time=0.2))
    try:
        response = requests.post(f"{sim.url}/2010-04-01/Accounts/{ACCOUNT}/Calls.json", auth=(ACCOUNT, TOKEN),
                                 data={"To": TO, "From": FROM, "Twiml": "<Response><Say>hi</Say></Response>"},
                                 timeout=5)
        call = wait_final(sim, response.json()["sid"], timeout=5)
        assert call["ended_by"] == "callee" and call["media"]["connected"] is False
    finally:
        sim.stop()


# --------------------------------------------------------------------------------------------
# The default script with the real Piper voice
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def piper_voice() -> dict[str, float]:
    """Synthesize the default script's sentences once (Piper loads its voice here)."""
    pytest.importorskip("piper")
    voice = caller_voice("piper")
    loop = MediaLoop.shared()
    seconds = {}
    for step in DEFAULT_SCRIPT:
        if step.text:
            pcm = loop.submit(voice.phrase(step.text)).result(60)
            seconds[step.text] = len(pcm) / 2 / 8000
    return seconds


@pytest.mark.slow
def test_default_script_with_piper(tmp_path: Path, agent: FakeAgent, piper_voice: dict[str, float]) -> None:
    assert all(0.5 < s < 6 for s in piper_voice.values()), piper_voice
    sim = make_sim(tmp_path, "piper")
    try:
        before = len(agent.logs)
        call = wait_final(sim, place(sim, agent), timeout=40)
        media = call["media"]
        assert call["ended_by"] == "callee" and media["script_finished"], media
        assert [step["ok"] for step in media["steps"]] == [True] * 6
        assert media["clears"] == 1 and len(media["caller_turns"]) == 3
        spoken = media["speech_frames_sent"] * 0.02
        assert spoken == pytest.approx(sum(piper_voice.values()), abs=0.3)
        log = agent.logs[before]
        assert log.kinds()[:4] == ["say:greeting", "say:reply-1", "clear", "say:reply-2"] and log.stopped
    finally:
        sim.stop()


@pytest.mark.slow
def test_piper_engine_streams_sentences_speed_and_cancel(piper_voice: dict[str, float]) -> None:
    from streaming.engines.errors import EngineError
    from streaming.engines.piper_tts import PiperTts

    async def main() -> None:
        tts = PiperTts(preload=False)
        assert tts.name == "piper" and tts.sample_rate == 22050
        chunks = [c async for c in tts.synthesize("Good evening. Table for three.")]
        assert len(chunks) == 2 and all(len(c) > 22050 * 2 * 0.3 for c in chunks)  # one chunk per sentence
        fast = b"".join([c async for c in tts.synthesize("Table for three.", speed=2.0)])
        assert len(fast) < 0.75 * len(chunks[1])
        stream = tts.synthesize("One. Two. Three. Four. Five. Six.")
        first = await stream.__anext__()
        await stream.aclose()
        assert first and [c async for c in tts.synthesize("   ")] == []
        assert [c async for c in tts.synthesize("Hi.", voice_id="Joanna")]  # unknown voice: the default one
        with pytest.raises(EngineError):
            await tts.synthesize("hi", speed=0).__anext__()

    asyncio.run(main())
