"""A tiny business for the simulator's tests: Graph calls with ``requests``, and an aiortc peer that plays a
speech-like tone as the agent and records what the WhatsApp user says."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from devstack.carrier_sim.caller_voice import tone_speech
from devstack.web_peer import RATE, MicrophoneTrack
from devstack.whatsapp_sim.agent_audio import AgentListener
from tests.post_call.receivers import Received, Receiver

PHONE_NUMBER_ID, DISPLAY, TOKEN, SECRET = "106540352242922", "+14155550100", "EAAG-test-token", "app-secret-0f1e"
USER = "447700900123"


def register(sim_url: str, webhook_url: str) -> None:
    response = requests.put(f"{sim_url}/sim/whatsapp/numbers/{PHONE_NUMBER_ID}", timeout=5, json={
        "display_phone_number": DISPLAY, "access_token": TOKEN, "app_secret": SECRET, "webhook_url": webhook_url,
        "waba_id": "102290129340398"})
    assert response.status_code == 200, response.text


def graph(sim_url: str, method: str, path: str, token: str | None = TOKEN, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers.update(kwargs.pop("headers", {}))
    return requests.request(method, f"{sim_url}/v21.0/{PHONE_NUMBER_ID}{path}", headers=headers, timeout=10,
                            **kwargs)


def signed_correctly(request: Received) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(request.headers.get("x-hub-signature-256", ""), expected)


def call_events(receiver: Receiver) -> list[dict[str, Any]]:
    """Every ``calls[]`` and ``statuses[]`` item received, in order."""
    with receiver.lock:
        bodies = [json.loads(r.body) for r in receiver.received]
    items: list[dict[str, Any]] = []
    for body in bodies:
        for entry in body["entry"]:
            for change in entry["changes"]:
                value = change["value"]
                items += value.get("calls", []) + value.get("statuses", [])
    return items


def first(receiver: Receiver, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
    return next((item for item in call_events(receiver) if match(item)), None)


def fingerprints(sdp: str) -> list[str]:
    return [line.split(":", 1)[1].split()[0] for line in sdp.splitlines() if line.startswith("a=fingerprint:")]


def sha256_only(sdp: str) -> str:
    return "".join(line + "\r\n" for line in sdp.splitlines()
                   if not line.startswith("a=fingerprint:") or line.startswith("a=fingerprint:sha-256"))


@dataclass
class BusinessPeer:
    """The business's media end (what Parley's streaming service is): speaks a tone, records the user."""

    pc: RTCPeerConnection = field(default_factory=lambda: RTCPeerConnection(RTCConfiguration(iceServers=[])))
    mic: MicrophoneTrack = field(default_factory=MicrophoneTrack)
    heard: AgentListener = field(default_factory=AgentListener)

    def __post_init__(self) -> None:
        self.pc.on("track", lambda track: _keep(self, track))
        self.mic.say(tone_speech("Hello, this is the business speaking now.", RATE))

    async def answer(self, offer: str) -> str:
        """The raw aiortc answer (all its fingerprint lines)."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        self.pc.addTrack(self.mic)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return str(self.pc.localDescription.sdp)

    async def offer(self) -> str:
        self.pc.addTrack(self.mic)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return sha256_only(self.pc.localDescription.sdp)

    async def apply_answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))


def _keep(peer: BusinessPeer, track: Any) -> None:
    import asyncio

    if track.kind == "audio":
        asyncio.ensure_future(peer.heard.read(track))


def wait_for(predicate: Callable[[], Any], timeout: float) -> Any:
    """Poll until ``predicate()`` is truthy; its value (AssertionError at the timeout)."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.02)
    return value


async def eventually(predicate: Callable[[], Any], timeout: float) -> Any:
    """:func:`wait_for` for code on an event loop (the peers keep running while it waits)."""
    import asyncio

    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "the condition did not come true in time"
        await asyncio.sleep(0.02)
    return value
