"""Answering machine detection at the carrier simulator, as Twilio's async AMD does it, through real protocols.

Calls are placed through the simulator's REST API with ``MachineDetection`` / ``AsyncAmd=true`` /
``AsyncAmdStatusCallback``. A webhook receiver in this file checks each AMD callback's
``X-Twilio-Signature`` with :func:`is_valid_signature`; a fake agent (an aiohttp Media Streams server)
hears the machine's greeting and beep, and leaves its message once the ``machine_end_beep`` callback
has arrived, as Parley's agent will.
"""
from __future__ import annotations

import asyncio
import base64
import json
import math
import socket
import threading
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests

pytest.importorskip("aiohttp")
import numpy as np
from aiohttp import web

from chalicelib.telephony.twilio_signature import is_valid_signature
from devstack.carrier_sim import CarrierSimulator, SimRules
from devstack.carrier_sim.media_factory import scripted_media_factory
from devstack.carrier_sim.rules import MachineRules
from streaming.audio import mulaw_to_pcm16, pcm16_to_mulaw

ACCOUNT, TOKEN = "AC" + "a7" * 16, "amd-token"
FROM = "+15005550006"
MACHINE = "+15551230007"  # ends in 7: an answering machine picks up
HUMAN = "+15551230001"
MESSAGE_HZ = 600.0
MESSAGE_S = 1.5


def tone(seconds: float, freq: float, amp: float = 9000.0) -> bytes:
    return b"".join(int(amp * math.sin(2 * math.pi * freq * i / 8000)).to_bytes(2, "little", signed=True)
                    for i in range(int(seconds * 8000)))


def frame_kind(pcm: bytes) -> str:
    """``silence``, ``beep`` (1 kHz), ``message`` (600 Hz) or ``speech`` (anything else loud) for 20 ms."""
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    if len(samples) == 0 or np.sqrt(np.mean(samples ** 2)) < 500:
        return "silence"
    peak_hz = float(np.argmax(np.abs(np.fft.rfft(samples, n=800)))) * 8000 / 800
    if abs(peak_hz - 1000) <= 30:
        return "beep"
    if abs(peak_hz - MESSAGE_HZ) <= 30:
        return "message"
    return "speech"


def wait_for(condition: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


# --------------------------------------------------------------------------------------------
# The AMD webhook receiver and the fake agent
# --------------------------------------------------------------------------------------------

@dataclass
class AmdCallback:
    at: float  # wall clock
    path: str
    params: dict[str, str]
    signature_valid: bool


@dataclass
class Webhooks:
    """Records status and AMD callbacks; ``on_amd`` is called with each AMD callback."""

    url: str = ""
    received: list[AmdCallback] = field(default_factory=list)
    on_amd: Callable[[AmdCallback], None] | None = None

    def amd(self, sid: str) -> list[AmdCallback]:
        return [r for r in list(self.received) if r.path.startswith("/amd") and r.params.get("CallSid") == sid]

    def statuses(self, sid: str) -> list[AmdCallback]:
        return [r for r in list(self.received) if r.path.startswith("/status") and r.params.get("CallSid") == sid]


@pytest.fixture()
def webhooks() -> Iterator[Webhooks]:
    hooks = Webhooks()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            multi = parse_qs(body, keep_blank_values=True)
            valid = is_valid_signature(TOKEN, hooks.url + self.path, multi, self.headers.get("X-Twilio-Signature"))
            item = AmdCallback(time.time(), self.path, {k: v[0] for k, v in multi.items()}, valid)
            hooks.received.append(item)
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()
            if item.path.startswith("/amd") and hooks.on_amd is not None:
                hooks.on_amd(item)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    hooks.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield hooks
    server.shutdown()
    server.server_close()


@dataclass
class StreamLog:
    start: dict[str, Any] | None = None
    frames: list[tuple[float, str]] = field(default_factory=list)  # (wall clock, frame_kind)
    message_sent_at: float | None = None
    stopped: bool = False


class FakeAgent:
    """Says nothing until told; ``leave_message(call_sid)`` sends a 600 Hz 'message' and, once Twilio
    echoes its mark (the message has played), hangs up (closes the stream)."""

    def __init__(self) -> None:
        self.logs: dict[str, StreamLog] = {}
        self._sockets: dict[str, tuple[web.WebSocketResponse, str]] = {}
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.url = asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(5)

    async def _serve(self) -> str:
        app = web.Application()
        app.router.add_get("/stream", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        return f"ws://127.0.0.1:{sock.getsockname()[1]}/stream"

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)

    def leave_message(self, call_sid: str) -> None:
        asyncio.run_coroutine_threadsafe(self._send_message(call_sid), self.loop).result(5)

    async def _send_message(self, call_sid: str) -> None:
        ws, stream_sid = self._sockets[call_sid]
        payload = base64.b64encode(pcm16_to_mulaw(tone(MESSAGE_S, MESSAGE_HZ))).decode()
        self.logs[call_sid].message_sent_at = time.time()
        await ws.send_str(json.dumps({"event": "media", "streamSid": stream_sid, "media": {"payload": payload}}))
        await ws.send_str(json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": "message"}}))

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        log, sid = StreamLog(), ""
        async for msg in ws:
            data = json.loads(msg.data)
            if data["event"] == "start":
                log.start, sid = data, data["start"]["callSid"]
                self.logs[sid], self._sockets[sid] = log, (ws, data["streamSid"])
            elif data["event"] == "media":
                log.frames.append((time.time(), frame_kind(mulaw_to_pcm16(base64.b64decode(data["media"]["payload"])))))
            elif data["event"] == "mark" and data["mark"]["name"] == "message":
                await ws.close()  # the agent hangs up once its message has played
            elif data["event"] == "stop":
                log.stopped = True
                break
        return ws


@pytest.fixture(scope="module")
def agent() -> Iterator[FakeAgent]:
    server = FakeAgent()
    yield server
    server.close()


def voiced_sim(tmp_path: Path, rules: SimRules | None = None) -> CarrierSimulator:
    factory = scripted_media_factory(tmp_path / "recordings", engine="tone")
    return CarrierSimulator(rules or SimRules(answer_delay=0.05), media_factory=factory).start()


def place(sim: CarrierSimulator, to: str, stream_url: str = "wss://agent.example.test/stream",
          **params: str) -> requests.Response:
    twiml = f'<Response><Connect><Stream url="{stream_url}"/></Connect></Response>'
    return requests.post(f"{sim.url}/2010-04-01/Accounts/{ACCOUNT}/Calls.json", auth=(ACCOUNT, TOKEN),
                         data={"To": to, "From": FROM, "Twiml": twiml, **params}, timeout=5)


def amd_params(webhooks: Webhooks, mode: str = "DetectMessageEnd") -> dict[str, str]:
    return {"MachineDetection": mode, "AsyncAmd": "true", "AsyncAmdStatusCallback": f"{webhooks.url}/amd?line=3",
            "AsyncAmdStatusCallbackMethod": "POST", "StatusCallback": f"{webhooks.url}/status"}


def sim_call(sim: CarrierSimulator, sid: str) -> dict[str, Any]:
    return requests.get(f"{sim.url}/sim/calls/{sid}", timeout=5).json()


def wait_final(sim: CarrierSimulator, sid: str, timeout: float = 20.0) -> dict[str, Any]:
    wait_for(lambda: sim_call(sim, sid)["final"], timeout, f"call {sid} to end")
    return sim_call(sim, sid)


# --------------------------------------------------------------------------------------------
# The machine
# --------------------------------------------------------------------------------------------

def test_machine_greets_beeps_reports_machine_end_beep_then_records_the_agents_message(
        tmp_path: Path, agent: FakeAgent, webhooks: Webhooks) -> None:
    webhooks.on_amd = lambda cb: agent.leave_message(cb.params["CallSid"])  # Parley speaks on the result
    sim = voiced_sim(tmp_path)
    try:
        created = place(sim, MACHINE, agent.url, **amd_params(webhooks), MachineDetectionTimeout="20")
        assert created.status_code == 201, created.text
        sid = created.json()["sid"]
        call = wait_final(sim, sid)
        assert call["status"] == "completed" and call["ended_by"] == "stream-ended"  # the agent hung up
        log = agent.logs[sid]
        assert log.start is not None and log.start["start"]["accountSid"] == ACCOUNT  # a stream as for a human

        # The agent heard the greeting, then a ~0.5 s 1 kHz beep.
        kinds = [kind for _, kind in log.frames]
        beeps = [i for i, kind in enumerate(kinds) if kind == "beep"]
        assert beeps and beeps[-1] - beeps[0] + 1 == len(beeps), "the beep is one stretch"
        assert 22 <= len(beeps) <= 27, len(beeps)
        assert kinds[:beeps[0]].count("speech") >= 50, "a greeting of a second or more precedes the beep"
        beep_heard_at = log.frames[beeps[-1]][0]

        # One AMD callback, signed, with Twilio's fields, after the beep had reached the agent.
        wait_for(lambda: len(webhooks.amd(sid)) == 1, what="the AMD callback")
        amd = webhooks.amd(sid)[0]
        assert amd.signature_valid and amd.path == "/amd?line=3"
        assert set(amd.params) == {"CallSid", "AccountSid", "AnsweredBy", "MachineDetectionDuration"}
        assert amd.params["AnsweredBy"] == "machine_end_beep" and amd.params["AccountSid"] == ACCOUNT
        assert amd.at > beep_heard_at
        media = call["media"]
        assert media["kind"] == "answering-machine" and media["beep_ended_s"] is not None
        assert int(amd.params["MachineDetectionDuration"]) >= 1000 * media["beep_ended_s"]
        assert media["message_ended_by"] == "agent-hung-up"

        # The message the agent left after the callback is in the machine's recording, after the beep.
        assert log.message_sent_at is not None and log.message_sent_at >= amd.at
        with wave.open(media["recording"]) as wav:
            pcm = wav.readframes(wav.getnframes())
        recorded = [frame_kind(pcm[i:i + 320]) for i in range(0, len(pcm) - 319, 320)]
        message = [i for i, kind in enumerate(recorded) if kind == "message"]
        assert abs(len(message) - MESSAGE_S / 0.02) <= 3, len(message)
        assert message[0] * 0.02 >= media["beep_ended_s"] - 0.1

        # The simulator shows the result and the AMD parameters; so does Twilio's call resource.
        assert call["answerer"] == "machine" and call["answered_by"] == "machine_end_beep"
        assert call["machine_detection"] == {
            "machine_detection": "DetectMessageEnd", "async_amd": True,
            "async_amd_status_callback": f"{webhooks.url}/amd?line=3",
            "async_amd_status_callback_method": "POST", "machine_detection_timeout": 20}
        assert [cb["answered_by"] for cb in call["amd_callbacks"]] == ["machine_end_beep"]
        assert call["amd_callbacks"][0]["http_status"] == 204
        listed = next(c for c in requests.get(f"{sim.url}/sim/calls", timeout=5).json()["calls"] if c["sid"] == sid)
        assert listed["answered_by"] == "machine_end_beep"
        resource = requests.get(f"{sim.url}/2010-04-01/Accounts/{ACCOUNT}/Calls/{sid}.json",
                                auth=(ACCOUNT, TOKEN), timeout=5).json()
        assert resource["answered_by"] == "machine_end_beep"
    finally:
        sim.stop()


def test_enable_reports_machine_start_while_the_greeting_plays(
        tmp_path: Path, agent: FakeAgent, webhooks: Webhooks) -> None:
    sim = voiced_sim(tmp_path)
    try:
        sid = place(sim, MACHINE, agent.url, **amd_params(webhooks, "Enable")).json()["sid"]
        wait_for(lambda: len(webhooks.amd(sid)) == 1, what="the AMD callback")
        amd = webhooks.amd(sid)[0]
        assert amd.signature_valid and amd.params["AnsweredBy"] == "machine_start"
        assert 1400 <= int(amd.params["MachineDetectionDuration"]) <= 2500
        assert sim_call(sim, sid)["media"]["beep_ended_s"] is None  # the greeting is still playing
        requests.post(f"{sim.url}/2010-04-01/Accounts/{ACCOUNT}/Calls/{sid}.json", auth=(ACCOUNT, TOKEN),
                      data={"Status": "completed"}, timeout=5)
        assert wait_final(sim, sid)["answered_by"] == "machine_start"
    finally:
        sim.stop()


# --------------------------------------------------------------------------------------------
# A human, and calls without AMD
# --------------------------------------------------------------------------------------------

def test_a_human_is_reported_human_while_the_script_runs(tmp_path: Path, agent: FakeAgent,
                                                        webhooks: Webhooks) -> None:
    sim = voiced_sim(tmp_path, SimRules(answer_delay=0.05, scripts={HUMAN: [{"pause": 2.5}, {"hang_up": True}]}))
    try:
        sid = place(sim, HUMAN, agent.url, **amd_params(webhooks)).json()["sid"]
        call = wait_final(sim, sid)
        assert call["ended_by"] == "callee" and call["media"]["script_finished"]
        assert call["answerer"] == "human" and call["answered_by"] == "human"
        [amd] = webhooks.amd(sid)
        assert amd.signature_valid and amd.params["AnsweredBy"] == "human"
        assert 1400 <= int(amd.params["MachineDetectionDuration"]) <= 2500
        wait_for(lambda: any(s.params["CallStatus"] == "completed" for s in webhooks.statuses(sid)),
                 what="the completed callback")
        completed = next(s for s in webhooks.statuses(sid) if s.params["CallStatus"] == "completed")
        assert amd.at < completed.at  # reported during the call
    finally:
        sim.stop()


def test_calls_without_machine_detection_get_no_amd_callback(tmp_path: Path, agent: FakeAgent,
                                                             webhooks: Webhooks) -> None:
    rules = SimRules(answer_delay=0.05, scripts={HUMAN: [{"pause": 1.8}, {"hang_up": True}]},
                     machine=MachineRules(silence_timeout=1.0))
    sim = voiced_sim(tmp_path, rules)
    try:
        status = {"StatusCallback": f"{webhooks.url}/status"}
        machine_sid = place(sim, MACHINE, agent.url, **status).json()["sid"]
        human_sid = place(sim, HUMAN, agent.url, **status).json()["sid"]
        machine, human = wait_final(sim, machine_sid), wait_final(sim, human_sid)
        # The machine still answers, greets, beeps and, hearing nothing, hangs up.
        assert machine["media"]["kind"] == "answering-machine" and machine["media"]["beep_ended_s"] is not None
        assert machine["media"]["message_ended_by"] == "silence" and machine["ended_by"] == "callee"
        for call, sid in ((machine, machine_sid), (human, human_sid)):
            wait_for(lambda sid=sid: any(s.params["CallStatus"] == "completed" for s in webhooks.statuses(sid)),
                     what="the completed callback")
            assert call["answered_by"] is None and call["machine_detection"] is None and call["amd_callbacks"] == []
            assert webhooks.amd(sid) == []
    finally:
        sim.stop()


# --------------------------------------------------------------------------------------------
# Validation and rules
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("change", [
    {"MachineDetection": "DetectMessageEndWithBeep"},
    {"MachineDetection": "enable"},
    {"AsyncAmd": "yes"},
    {"AsyncAmd": "false"},  # synchronous AMD: not simulated
    {"AsyncAmd": None},
    {"AsyncAmdStatusCallback": "not a url"},
    {"AsyncAmdStatusCallbackMethod": "GET"},
    {"MachineDetectionTimeout": "2"},
    {"MachineDetectionTimeout": "60"},
    {"MachineDetectionTimeout": "soon"},
], ids=lambda change: "-".join(f"{k}={v}" for k, v in change.items()))
def test_invalid_amd_parameters_are_400_in_twilios_shape(webhooks: Webhooks, change: dict[str, str | None]) -> None:
    with CarrierSimulator(SimRules(answer_delay=0.05, talk_time=0.05)) as sim:
        params = {**amd_params(webhooks), "MachineDetectionTimeout": "30", **change}
        response = place(sim, MACHINE, **{k: v for k, v in params.items() if v is not None})
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["code"] == 20001 and body["status"] == 400 and body["more_info"].endswith("/20001")
        assert any(name in body["message"] for name in change), body["message"]
        assert requests.get(f"{sim.url}/sim/stats", timeout=5).json()["calls"] == 0


def test_who_answers_follows_the_rules_and_their_overrides() -> None:
    rules = SimRules.from_json({"answered_by": {HUMAN: "machine", MACHINE: "human"},
                                "machine": {"greeting": "Leave it at the beep.", "max_message": 30}})
    assert rules.answerer_for(HUMAN) == "machine" and rules.answerer_for(MACHINE) == "human"
    assert rules.answerer_for("+15551239997") == "machine" and rules.answerer_for("+15551239996") == "human"
    assert SimRules(number_rules=False).answerer_for(MACHINE) == "human"
    assert SimRules.from_json(rules.to_json()) == rules
    assert "answered_by" not in SimRules().to_json() and "machine" not in SimRules().to_json()
    for bad in ({"answered_by": {HUMAN: "fax"}}, {"answered_by": {"123": "machine"}},
                {"machine": {"greeting": ""}}, {"machine": {"max_message": 0}}, {"machine": {"tone": 1}}):
        with pytest.raises(ValueError):
            SimRules.from_json(bad)
