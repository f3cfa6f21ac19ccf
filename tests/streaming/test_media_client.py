"""The Twilio Media Streams client against a fake agent server that speaks Twilio's protocol.

The fake server (aiohttp) checks what Twilio would send (connected, start, 20 ms media frames, dtmf,
stop) and plays the agent: it sends audio, marks and clear, and records when marks come back.
"""
from __future__ import annotations

import asyncio
import base64
import json
import math
import statistics
import time
import wave
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, Self

import pytest

pytest.importorskip("aiohttp")
import aiohttp
from aiohttp import web

from devstack.media_client import FRAME_BYTES, MediaStreamClient, Ticker
from streaming.audio import pcm16_to_mulaw, rms

ACCOUNT, CALL = "AC" + "a1" * 16, "CA" + "b2" * 16
Behaviour = Callable[["Conn"], Awaitable[None]]


def tone(seconds: float, freq: float = 440.0, amp: float = 9000.0, rate: int = 8000) -> bytes:
    n = int(seconds * rate)
    return b"".join(int(amp * math.sin(2 * math.pi * freq * i / rate)).to_bytes(2, "little", signed=True)
                    for i in range(n))


@dataclass
class Conn:
    """One accepted stream, as the fake agent sees it."""

    ws: web.WebSocketResponse
    messages: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    stream_sid: str = ""
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def of(self, event: str) -> list[tuple[float, dict[str, Any]]]:
        return [(t, m) for t, m in self.messages if m["event"] == event]

    async def send_audio(self, pcm16: bytes, chunk_bytes: int = 800) -> float:
        """Send agent audio as media messages (100 ms each by default); returns the send time."""
        mulaw = pcm16_to_mulaw(pcm16)
        sent_at = time.monotonic()
        for i in range(0, len(mulaw), chunk_bytes):
            payload = base64.b64encode(mulaw[i:i + chunk_bytes]).decode()
            await self.ws.send_str(json.dumps({"event": "media", "streamSid": self.stream_sid,
                                               "media": {"payload": payload}}))
        return sent_at

    async def send_mark(self, name: str) -> float:
        await self.ws.send_str(json.dumps({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}}))
        return time.monotonic()

    async def send_clear(self) -> float:
        await self.ws.send_str(json.dumps({"event": "clear", "streamSid": self.stream_sid}))
        return time.monotonic()

    async def wait_for(self, event: str, count: int = 1, timeout: float = 5.0) -> list[tuple[float, dict[str, Any]]]:
        deadline = time.monotonic() + timeout
        while len(self.of(event)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"server got {len(self.of(event))} {event} messages, wanted {count}")
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                pass
        return self.of(event)

    def mark_times(self) -> dict[str, float]:
        return {m["mark"]["name"]: t for t, m in self.of("mark")}


class FakeAgent:
    """A Media Streams server: every connection runs ``behaviour`` once ``start`` has arrived."""

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour = behaviour
        self.conns: list[Conn] = []
        self.errors: list[BaseException] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get("/stream", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"ws://127.0.0.1:{port}/stream"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = Conn(ws)
        self.conns.append(conn)
        task: asyncio.Task[None] | None = None
        async for msg in ws:
            data = json.loads(msg.data)
            conn.messages.append((time.monotonic(), data))
            conn.arrived.set()
            if data["event"] == "start":
                conn.stream_sid = data["streamSid"]
                if self.behaviour is not None:
                    task = asyncio.create_task(self._run(conn))
            if data["event"] == "stop":
                break
        conn.closed.set()
        conn.arrived.set()
        if task is not None and not task.done():
            task.cancel()
        return ws

    async def _run(self, conn: Conn) -> None:
        assert self.behaviour is not None
        try:
            await self.behaviour(conn)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self.errors.append(exc)


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------

def test_handshake_media_shapes_pacing_speech_and_stop() -> None:
    speech = tone(0.4, amp=12000)

    async def main() -> None:
        async with FakeAgent() as agent:
            client = MediaStreamClient(agent.url, CALL, ACCOUNT, {"call_id": "42", "token": "t"})
            client.pause(0.2)
            client.say(speech)
            await client.connect()
            assert await client.wait_sent(timeout=3)
            await asyncio.sleep(0.6)
            await client.hang_up()
            conn = agent.conns[0]
            await asyncio.wait_for(conn.closed.wait(), 2)

            events = [m["event"] for _, m in conn.messages]
            assert events[0] == "connected" and events[1] == "start" and events[-1] == "stop"
            assert set(events[2:-1]) == {"media"}
            assert conn.messages[0][1] == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
            start = conn.messages[1][1]
            assert start["sequenceNumber"] == "1" and start["streamSid"] == client.stream_sid
            assert start["start"] == {
                "accountSid": ACCOUNT, "streamSid": client.stream_sid, "callSid": CALL, "tracks": ["inbound"],
                "customParameters": {"call_id": "42", "token": "t"},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}
            media = conn.of("media")
            assert len(media) >= 50
            for i, (_, m) in enumerate(media, start=1):
                assert m["streamSid"] == client.stream_sid and m["sequenceNumber"] == str(i + 1)
                assert m["media"]["track"] == "inbound" and m["media"]["chunk"] == str(i)
                assert len(base64.b64decode(m["media"]["payload"])) == FRAME_BYTES
            stamps = [int(m["media"]["timestamp"]) for _, m in media]
            assert stamps == sorted(stamps) and stamps[-1] >= 20 * (len(media) - 5)
            gaps = [b - a for (a, _), (b, _) in pairwise(media)]
            assert 0.018 <= statistics.mean(gaps) <= 0.022, statistics.mean(gaps)
            stop = conn.messages[-1][1]
            assert stop == {"event": "stop", "sequenceNumber": str(len(media) + 2), "streamSid": client.stream_sid,
                            "stop": {"accountSid": ACCOUNT, "callSid": CALL}}

            # Speech frames: 0.2 s of silence first, then the 0.4 s of speech, then silence again.
            flags = [f.speech for f in client.sent]
            assert flags[:10] == [False] * 10 and flags[10:30] == [True] * 20 and not any(flags[30:])
            caller = client.caller_audio()
            assert len(caller) == 2 * FRAME_BYTES * len(client.sent)
            assert rms(caller[3200:9600]) > 5000 and rms(caller[:3200]) == 0
            assert len(client.caller_turns) == 1
            loud = client.speech_sent_times(0.0, level=500)  # the 20 frames of speech, not the silence around them
            assert loud == [f.t for f in client.sent[10:30]]
            assert client.speech_sent_times(client.sent[20].t, level=500) == loud[10:]
            assert client.closed and not client.closed_by_server

    run(main())


def test_playout_marks_clear_and_recording(tmp_path: Path) -> None:
    async def behaviour(conn: Conn) -> None:
        await asyncio.sleep(0.1)
        conn.t_audio = await conn.send_audio(tone(1.0))  # type: ignore[attr-defined]
        await conn.send_mark("one-second")
        await conn.send_audio(tone(0.2, freq=660))
        await conn.send_mark("later")
        await conn.wait_for("mark", 2, timeout=3)
        conn.t_empty = await conn.send_mark("empty")  # type: ignore[attr-defined]
        await conn.wait_for("mark", 3)
        conn.t_long = await conn.send_audio(tone(3.0))  # type: ignore[attr-defined]
        await conn.send_mark("cleared")
        await asyncio.sleep(0.5)
        conn.t_clear = await conn.send_clear()  # type: ignore[attr-defined]
        await conn.wait_for("mark", 4)
        conn.t_after = await conn.send_audio(tone(0.2))  # type: ignore[attr-defined]
        await conn.send_mark("after-clear")

    async def main() -> None:
        async with FakeAgent(behaviour) as agent:
            client = MediaStreamClient(agent.url, CALL, ACCOUNT)
            await client.connect()
            conn = await _first_conn(agent)
            await conn.wait_for("mark", 5, timeout=8)
            await asyncio.sleep(0.1)
            await client.hang_up()
            assert not agent.errors, agent.errors
            marks = conn.mark_times()
            c: Any = conn
            # echoed when playout reaches them: 1.0 s and 1.2 s of audio after it was sent
            assert 0.98 <= marks["one-second"] - c.t_audio <= 1.1, marks["one-second"] - c.t_audio
            assert 1.18 <= marks["later"] - c.t_audio <= 1.3
            assert marks["empty"] - c.t_empty < 0.05  # nothing queued: at once
            assert marks["cleared"] - c.t_clear < 0.05  # clear echoes pending marks at once
            assert 0.18 <= marks["after-clear"] - c.t_after <= 0.3
            for _, m in conn.of("mark"):
                assert set(m) == {"event", "sequenceNumber", "streamSid", "mark"}
                assert m["streamSid"] == client.stream_sid

            # client-side records
            assert [e.data["name"] for e in client.events_of("mark_sent")] == \
                ["one-second", "later", "empty", "cleared", "after-clear"]
            clear = client.events_of("clear")[0]
            assert 2.3 * 8000 <= clear.data["dropped_bytes"] <= 2.6 * 8000 and clear.data["pending_marks"] == 1
            agent_ticks = sum(p.agent for p in client.played)
            assert 1.4 / 0.02 <= agent_ticks <= 2.0 / 0.02, agent_ticks  # 1.2 s + ~0.5 s + 0.2 s, not 4.4 s
            assert sum(len(f.payload) for f in client.received) == int(4.4 * 8000)
            assert len(client.agent_audio()) == 2 * FRAME_BYTES * len(client.played)
            assert len(client.agent_audio_received()) == 2 * int(4.4 * 8000)
            assert len(client.agent_turns) >= 1

            path = client.write_stereo_wav(tmp_path / "call.wav")
            with wave.open(str(path)) as wav:
                assert wav.getnchannels() == 2 and wav.getframerate() == 8000
                assert wav.getnframes() == FRAME_BYTES * len(client.played)
            stats = client.stats()
            assert stats["marks_sent"] == 5 and stats["clears"] == 1 and stats["marks_received"] == 5

    run(main())


def test_waiting_for_agent_speech_and_silence() -> None:
    async def behaviour(conn: Conn) -> None:
        await asyncio.sleep(0.3)
        await conn.send_audio(tone(0.6))

    async def main() -> None:
        async with FakeAgent(behaviour) as agent:
            client = MediaStreamClient(agent.url, CALL, ACCOUNT)
            await client.connect()
            t0 = time.monotonic()
            assert await client.wait_agent_speech(timeout=2)
            heard = time.monotonic() - t0
            assert await client.wait_agent_silence(0.4, timeout=3)
            quiet = time.monotonic() - t0
            assert 0.25 <= heard <= 0.45, heard
            assert 1.25 <= quiet <= 1.5, quiet  # 0.3 s wait + 0.6 s audio + 0.4 s silence
            assert not await client.wait_agent_speech(timeout=0.2)  # nobody talks any more
            await client.hang_up()

    run(main())


def test_dtmf_and_server_hanging_up() -> None:
    async def behaviour(conn: Conn) -> None:
        await conn.wait_for("dtmf")
        await conn.ws.close()

    async def main() -> None:
        async with FakeAgent(behaviour) as agent:
            closed: list[MediaStreamClient] = []
            client = MediaStreamClient(agent.url, CALL, ACCOUNT, on_close=closed.append)
            await client.connect()
            await asyncio.sleep(0.1)
            client.send_dtmf("5")
            assert await client.wait_closed(timeout=3)
            assert client.closed_by_server and closed == [client]
            assert not await client.wait_agent_silence(0.2, timeout=1)  # closed: no waiting
            conn = agent.conns[0]
            (_, dtmf), = conn.of("dtmf")
            assert dtmf["dtmf"] == {"track": "inbound_track", "digit": "5"} and dtmf["streamSid"] == client.stream_sid
            seqs = [int(m["sequenceNumber"]) for _, m in conn.messages[1:]]
            assert seqs == list(range(1, len(seqs) + 1))
            await client.hang_up()  # harmless after the server closed
            assert not conn.of("stop")
            with pytest.raises(ValueError):
                client.send_dtmf("x")

    run(main())


def test_many_clients_share_one_ticker() -> None:
    async def main() -> None:
        async with FakeAgent() as agent, aiohttp.ClientSession() as http:
            clients = [MediaStreamClient(agent.url, f"CA{i:032d}", ACCOUNT, session=http) for i in range(40)]
            await asyncio.gather(*(c.connect() for c in clients))
            ticker = Ticker.for_loop()
            assert len(ticker) == 40
            await asyncio.sleep(1.0)
            await asyncio.gather(*(c.hang_up() for c in clients))
            assert len(ticker) == 0
            for conn in agent.conns:
                await asyncio.wait_for(conn.closed.wait(), 2)
                media = conn.of("media")
                assert len(media) >= 45, len(media)  # at least the second it streamed; pacing checked below
                gaps = [b - a for (a, _), (b, _) in pairwise(media)]
                assert statistics.mean(gaps) == pytest.approx(0.02, abs=0.003)

    run(main())


async def _first_conn(agent: FakeAgent) -> Conn:
    for _ in range(200):
        if agent.conns:
            return agent.conns[0]
        await asyncio.sleep(0.01)
    raise AssertionError("no connection")
