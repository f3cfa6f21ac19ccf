"""Test harness: the streaming server on a free port in the test's own event loop, a minimal
Twilio-side client, and a lifecycle that records what it was asked to do (no AWS)."""
from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np
from aiohttp import web

from chalicelib.domain.call_media import Admission, MediaResult, Rejected
from chalicelib.telephony import stream_tokens
from streaming.audio import pcm16_to_mulaw
from streaming.call_core import Lifecycle
from streaming.engines.registry import EngineRegistry
from streaming.monitoring.hub import MonitorHub
from streaming.server import create_app
from streaming.settings import StreamingSettings

SECRET = "harness-secret"
INSTANT = StreamingSettings(stt_default="instant", llm_default="instant", tts_default="instant", vad="energy",
                            turn_model="none", preload=False, start_timeout_s=2.0)


@dataclass
class RecordingLifecycle:
    """Admits calls whose token verifies; remembers starts and finalizations."""

    agent_config: dict[str, Any] = field(default_factory=dict)
    call_context: dict[str, Any] = field(default_factory=dict)
    started: list[int] = field(default_factory=list)
    finalized: list[tuple[int, MediaResult]] = field(default_factory=list)
    done: set[int] = field(default_factory=set)
    analyse: bool = False  # also run the post-call analysis and record what would be announced
    extracted_variables: list[dict[str, str]] = field(default_factory=list)
    completed: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    def admit(self, call_id: str, token: str, stream_sid: str, secret: str) -> Admission:
        try:
            numeric = int(call_id)
        except ValueError:
            raise Rejected("call_id parameter missing or not a number") from None
        claims = stream_tokens.verify(secret, token, numeric)
        if claims is None:
            raise Rejected("stream token missing, forged, expired or for another call")
        return Admission(account_id=claims["a"], call_id=numeric, agent_id=1, agent_name="Test agent",
                         agent_config=self.agent_config, call_context=self.call_context, to_number="+15550001111",
                         bulk_call_id=None, stream_sid=stream_sid)

    def on_started(self, admission: Admission) -> None:
        self.started.append(admission.call_id)

    def finalize(self, admission: Admission, result: MediaResult) -> bool:
        if admission.call_id in self.done:
            return False
        self.done.add(admission.call_id)
        wav = result.wav if isinstance(result.wav, bytes) else result.wav.read()  # as storing it would
        self.finalized.append((admission.call_id, dataclasses.replace(result, wav=wav)))
        return True

    def variables(self, admission: Admission) -> list[dict[str, str]]:
        return list(self.extracted_variables)

    def complete(self, admission: Admission, analysis: dict[str, Any]) -> bool:
        self.completed.append((admission.call_id, analysis))
        return True

    def lifecycle(self) -> Lifecycle:
        if not self.analyse:
            return Lifecycle(admit=self.admit, started=self.on_started, finalize=self.finalize)
        return Lifecycle(admit=self.admit, started=self.on_started, finalize=self.finalize,
                         variables=self.variables, complete=self.complete)


@asynccontextmanager
async def running_server(recorder: RecordingLifecycle, settings: StreamingSettings = INSTANT,
                         registry: EngineRegistry | None = None,
                         monitor: MonitorHub | None = None) -> AsyncIterator[tuple[str, web.Application]]:
    app = create_app(settings=settings, registry=registry or EngineRegistry(), token_secret=SECRET,
                     lifecycle=recorder.lifecycle(), monitor=monitor)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"ws://127.0.0.1:{port}", app
    finally:
        await runner.cleanup()


def tone(seconds: float, amplitude: int = 6000, rate: int = 8000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * 300 * t)).astype("<i2").tobytes()


def quiet(seconds: float, rate: int = 8000) -> bytes:
    return b"\x00\x00" * int(seconds * rate)


class TwilioSide:
    """What Twilio does on a stream, reduced to what these tests need. Echoes marks at once."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, stream_sid: str = "MZ0001") -> None:
        self.ws = ws
        self.stream_sid = stream_sid
        self.seq = 0
        self.received: list[tuple[float, dict[str, Any]]] = []
        self.echo_marks = True
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, session: aiohttp.ClientSession, url: str, call_id: int = 7, token: str | None = None,
                   media_format: dict[str, Any] | None = None, send_start: bool = True) -> TwilioSide:
        ws = await session.ws_connect(f"{url}/twilio")
        side = cls(ws)
        await side.send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        if send_start:
            await side.start(call_id, token if token is not None else stream_tokens.issue(SECRET, 3, call_id),
                             media_format)
        return side

    async def send(self, message: dict[str, Any]) -> None:
        self.seq += 1
        await self.ws.send_str(json.dumps({"sequenceNumber": str(self.seq), **message}))

    async def start(self, call_id: int, token: str, media_format: dict[str, Any] | None = None) -> None:
        await self.send({"event": "start", "streamSid": self.stream_sid, "start": {
            "streamSid": self.stream_sid, "accountSid": "AC1", "callSid": "CA1", "tracks": ["inbound"],
            "customParameters": {"call_id": str(call_id), "token": token},
            "mediaFormat": media_format or {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}})

    async def audio(self, pcm16_8k: bytes, realtime: bool = False) -> None:
        mulaw = pcm16_to_mulaw(pcm16_8k)
        started = time.monotonic()
        for index in range(0, len(mulaw), 160):
            payload = base64.b64encode(mulaw[index:index + 160]).decode()
            await self.send({"event": "media", "streamSid": self.stream_sid,
                             "media": {"track": "inbound", "chunk": str(index // 160), "payload": payload}})
            if realtime:
                delay = started + (index // 160 + 1) * 0.02 - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)

    async def stop(self) -> None:
        stop = {"accountSid": "AC1", "callSid": "CA1"}
        await self.send({"event": "stop", "streamSid": self.stream_sid, "stop": stop})

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            self.received.append((time.monotonic(), data))
            if data.get("event") == "mark" and self.echo_marks:
                await self.send({"event": "mark", "streamSid": self.stream_sid, "mark": data["mark"]})

    def events(self, name: str) -> list[dict[str, Any]]:
        return [m for _, m in self.received if m.get("event") == name]

    async def wait_for(self, predicate, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for the server")
            await asyncio.sleep(0.01)

    async def closed(self, timeout: float = 10.0) -> int | None:
        await asyncio.wait_for(self._reader, timeout)
        return self.ws.close_code
