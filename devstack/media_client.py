"""A Twilio Media Streams client: what Twilio does for ``<Connect><Stream url=...>``, as a simulated phone.

One :class:`MediaStreamClient` is one call leg. It opens the WebSocket, sends ``connected`` and
``start`` (with the ``<Parameter>`` values as ``customParameters``), then one ``media`` frame of
caller audio every 20 ms (silence when the caller is quiet: Twilio streams continuously), plus
``dtmf`` and, at hang-up, ``stop``. From the server it takes ``media`` (agent audio), ``mark`` and
``clear`` and behaves like Twilio's playout: agent audio is queued and "played" at 8 kHz in real
time; a mark is echoed when playout reaches it (at once when nothing is queued); ``clear`` drops
the queued audio and echoes every pending mark.

Every client of an event loop is driven by one shared 20 ms :class:`Ticker`, paced against an
absolute clock, so hundreds of clients cost one timer. Per client and per tick: one caller frame
sent and one agent frame played.

Everything is recorded with ``time.monotonic()`` timestamps: frames sent (speech or silence),
frames received, ticks played (agent audio or silence), and control events (marks, clears, dtmf,
start/stop). :meth:`MediaStreamClient.agent_audio` / :meth:`~MediaStreamClient.caller_audio` give
the played / sent audio as PCM16 at 8 kHz; :meth:`~MediaStreamClient.write_stereo_wav` writes
both (left caller, right agent) on the same timeline.

    async with aiohttp.ClientSession() as http:
        client = MediaStreamClient(url, call_sid="CA..", account_sid="AC..", parameters={"call_id": "42"},
                                   session=http)
        await client.connect()
        await client.wait_agent_silence()      # the greeting
        client.say(pcm16_8k)                   # queued, streamed in real time
        await client.wait_sent()
        await client.wait_agent_silence()      # the reply
        await client.hang_up()
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import uuid
import wave
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import aiohttp
import numpy as np

from streaming.audio import mulaw_to_pcm16, pcm16_to_mulaw, resample

log = logging.getLogger("parley.media_client")

SAMPLE_RATE = 8000
FRAME_SECONDS = 0.02
FRAME_BYTES = 160  # one 20 ms mu-law frame at 8 kHz
SILENCE_BYTE = 0xFF  # mu-law code for 0
SILENCE_FRAME = bytes([SILENCE_BYTE]) * FRAME_BYTES
# Per mu-law code: |sample| >> 7 (0..255), so a frame's peak level is ``max(frame.translate(_LEVEL))``.
_LEVEL = bytes(min(255, abs(int.from_bytes(mulaw_to_pcm16(bytes([c])), "little", signed=True)) >> 7)
               for c in range(256))


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------

class SentFrame(NamedTuple):
    """One caller ``media`` frame sent."""

    t: float
    speech: bool  # caller speech (from :meth:`MediaStreamClient.say`) or silence


class ReceivedFrame(NamedTuple):
    """One agent ``media`` message received (mu-law payload, any length)."""

    t: float
    payload: bytes


class PlayedTick(NamedTuple):
    """What the simulated phone played during one 20 ms tick."""

    t: float
    agent: bool  # audio from the playout buffer (False: nothing queued, silence)
    voiced: bool  # that audio was loud enough to count as the agent talking


class ClientEvent(NamedTuple):
    """A control event: ``start``, ``dtmf``, ``mark_received``, ``mark_sent``, ``clear``, ``stop``,
    ``closed_by_server``, ``error``, ``unknown``."""

    t: float
    kind: str
    data: dict[str, Any]


# --------------------------------------------------------------------------------------------
# The shared clock
# --------------------------------------------------------------------------------------------

class Ticker:
    """One 20 ms clock per event loop driving every registered client.

    Ticks are due at ``start + n * interval`` (an absolute clock, so sleep overshoot never adds up).
    When the loop falls behind, missed ticks run back to back (clients send the frames they owe in a
    burst, as a jittery network delivers them); beyond ``max_catch_up`` ticks behind, the clock is
    reset and the lost ticks counted in ``skipped``.
    """

    _by_loop: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Ticker]] = weakref.WeakKeyDictionary()

    def __init__(self, interval: float = FRAME_SECONDS, max_catch_up: int = 50) -> None:
        self.interval = interval
        self.max_catch_up = max_catch_up
        self.ticks = 0
        self.late = 0  # ticks run more than one interval late
        self.skipped = 0
        self.busy_s = 0.0  # time spent running clients' ticks (load of this ticker)
        self.max_busy_s = 0.0
        self._clients: list[MediaStreamClient] = []
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def for_loop(cls, loop: asyncio.AbstractEventLoop | None = None) -> Ticker:
        """The ticker shared by every client of ``loop`` (the running loop by default)."""
        loop = loop or asyncio.get_running_loop()
        ticker = cls._by_loop.get(loop)
        if ticker is None:
            ticker = cls._by_loop[loop] = cls()
        return ticker

    def add(self, client: MediaStreamClient) -> None:
        self._clients.append(client)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="media-ticker")

    def remove(self, client: MediaStreamClient) -> None:
        try:
            self._clients.remove(client)
        except ValueError:
            pass

    def __len__(self) -> int:
        return len(self._clients)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        start, n = loop.time(), 0
        while self._clients:
            n += 1
            due = start + n * self.interval
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif -delay > self.interval:
                self.late += 1
                behind = int(-delay / self.interval)
                if behind > self.max_catch_up:
                    self.skipped += behind
                    n += behind
            self.ticks += 1
            now = time.monotonic()
            for client in list(self._clients):
                try:
                    await client._tick(now)
                except Exception:
                    log.exception("media client tick failed")
                    self.remove(client)
            busy = time.monotonic() - now
            self.busy_s += busy
            self.max_busy_s = max(self.max_busy_s, busy)


# --------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------

@dataclass(slots=True)
class _Segment:
    data: bytes  # mu-law
    speech: bool
    pos: int = 0


class _Waiter:
    """A pending ``wait_agent_*``: resolved from the tick once its condition holds."""

    __slots__ = ("future", "heard", "min_silence", "since")

    def __init__(self, future: asyncio.Future[bool], since: float, min_silence: float | None, heard: bool) -> None:
        self.future, self.since, self.min_silence, self.heard = future, since, min_silence, heard


class MediaStreamClient:
    """One simulated call leg speaking Twilio's Media Streams protocol to ``url``.

    ``parameters`` become ``start.customParameters``. ``session`` lets many clients share one
    ``aiohttp.ClientSession`` (else the client owns one). ``voice_level`` is the peak level
    (|PCM16| >> 7) above which a played frame counts as the agent talking.
    """

    def __init__(self, url: str, call_sid: str, account_sid: str, parameters: Mapping[str, str] | None = None,
                 *, stream_sid: str | None = None, session: aiohttp.ClientSession | None = None,
                 ticker: Ticker | None = None, voice_level: int = 4, talk_hangover: float = 0.3,
                 on_close: Callable[[MediaStreamClient], None] | None = None) -> None:
        self.url = url
        self.call_sid = call_sid
        self.account_sid = account_sid
        self.parameters = dict(parameters or {})
        self.stream_sid = stream_sid or "MZ" + uuid.uuid4().hex
        self.voice_level = voice_level
        self.talk_hangover = talk_hangover
        self.on_close = on_close
        self._session = session
        self._owns_session = session is None
        self._ticker = ticker
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._seq = 0
        self._chunk = 0
        self._outbox: list[str] = []  # control messages (marks, dtmf) in creation order
        # caller side
        self._outgoing: deque[_Segment] = deque()
        self._sent_mulaw = bytearray()
        self._drain_waiters: list[asyncio.Future[bool]] = []
        self._speech_started: float | None = None
        # agent side (the playout buffer: absolute byte positions for marks)
        self._playout = bytearray()
        self._enqueued = 0
        self._played = 0
        self._pending_marks: deque[tuple[str, int]] = deque()
        self._played_mulaw = bytearray()
        self._waiters: list[_Waiter] = []
        self._last_voiced: float | None = None
        self._spurt_start: float | None = None
        # records
        self.sent: list[SentFrame] = []
        self.received: list[ReceivedFrame] = []
        self.played: list[PlayedTick] = []
        self.events: list[ClientEvent] = []
        self.caller_turns: list[tuple[float, float]] = []  # (first, last) speech frame sent
        self.agent_turns: list[tuple[float, float]] = []  # (first, last) voiced tick played
        self.connected_at: float | None = None
        self.started_at: float | None = None
        self.closed_at: float | None = None
        self.closed_by_server = False
        self.closed = False
        self._closed_event = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------------

    async def connect(self, timeout: float = 10.0) -> None:
        """Open the WebSocket, send ``connected`` and ``start``, and join the ticker."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        self._ws = await asyncio.wait_for(
            self._session.ws_connect(self.url, autoping=True, max_msg_size=16 * 1024 * 1024), timeout)
        self.connected_at = time.monotonic()
        await self._send_json({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        start = {
            "event": "start", "sequenceNumber": self._next_seq(),
            "start": {
                "accountSid": self.account_sid, "streamSid": self.stream_sid, "callSid": self.call_sid,
                "tracks": ["inbound"], "customParameters": dict(self.parameters),
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": SAMPLE_RATE, "channels": 1},
            },
            "streamSid": self.stream_sid,
        }
        await self._send_json(start)
        self.started_at = time.monotonic()
        self._log("start", {"streamSid": self.stream_sid, "customParameters": dict(self.parameters)})
        self._reader = asyncio.get_running_loop().create_task(self._read(), name=f"media-reader-{self.call_sid}")
        if self._ticker is None:
            self._ticker = Ticker.for_loop()
        self._ticker.add(self)

    async def hang_up(self) -> None:
        """Send ``stop`` (unless the server already closed), close the WebSocket and stop ticking."""
        if self.closed:
            return
        if self._ws is not None and not self._ws.closed:
            stop = {"event": "stop", "sequenceNumber": self._next_seq(), "streamSid": self.stream_sid,
                    "stop": {"accountSid": self.account_sid, "callSid": self.call_sid}}
            try:
                await self._flush()
                await self._send_json(stop)
                self._log("stop", {})
            except (ConnectionError, RuntimeError, aiohttp.ClientError):
                pass
        await self._close(by_server=False)

    async def wait_closed(self, timeout: float | None = None) -> bool:
        """Wait until the stream is closed (by either side); False on timeout."""
        try:
            await asyncio.wait_for(self._closed_event.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def _close(self, by_server: bool) -> None:
        if self.closed:
            return
        self.closed = True
        self.closed_by_server = by_server
        self.closed_at = time.monotonic()
        if by_server:
            self._log("closed_by_server", {"close_code": self._ws.close_code if self._ws else None})
        if self._ticker is not None:
            self._ticker.remove(self)
        self._finish_spurts(self.closed_at)
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.set_result(False)
        self._waiters.clear()
        for future in self._drain_waiters:
            if not future.done():
                future.set_result(False)
        self._drain_waiters.clear()
        if self._ws is not None and not self._ws.closed:
            try:
                await self._ws.close()
            except (ConnectionError, aiohttp.ClientError):
                pass
        if self._reader is not None and self._reader is not asyncio.current_task():
            self._reader.cancel()
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._closed_event.set()
        if self.on_close is not None:
            try:
                self.on_close(self)
            except Exception:
                log.exception("on_close callback failed")

    # -- caller side ---------------------------------------------------------------------------

    def say(self, pcm16: bytes, sample_rate: int = SAMPLE_RATE) -> None:
        """Queue caller speech (PCM16 mono) after whatever is queued; it is streamed in real time."""
        if sample_rate != SAMPLE_RATE:
            pcm16 = resample(pcm16, sample_rate, SAMPLE_RATE)
        if pcm16:
            self._outgoing.append(_Segment(pcm16_to_mulaw(pcm16), speech=True))

    def pause(self, seconds: float) -> None:
        """Queue ``seconds`` of caller silence (delays speech queued after it)."""
        samples = round(seconds * SAMPLE_RATE)
        if samples > 0:
            self._outgoing.append(_Segment(bytes([SILENCE_BYTE]) * samples, speech=False))

    def send_dtmf(self, digit: str) -> None:
        """Send a ``dtmf`` event now (in order with the media frames already sent)."""
        if len(digit) != 1 or digit not in "0123456789*#ABCD":
            raise ValueError(f"not a DTMF digit: {digit!r}")
        message = {"event": "dtmf", "streamSid": self.stream_sid, "sequenceNumber": self._next_seq(),
                   "dtmf": {"track": "inbound_track", "digit": digit}}
        self._log("dtmf", {"digit": digit})
        self._outbox.append(json.dumps(message))

    @property
    def speaking(self) -> bool:
        """Caller audio is still queued."""
        return bool(self._outgoing)

    async def wait_sent(self, timeout: float | None = None) -> bool:
        """Wait until all queued caller audio has been sent; False on timeout or close."""
        if not self._outgoing:
            return True
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._drain_waiters.append(future)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return False

    # -- agent side ----------------------------------------------------------------------------

    @property
    def agent_talking(self) -> bool:
        """The phone played agent speech within the last ``talk_hangover`` seconds."""
        return self._last_voiced is not None and time.monotonic() - self._last_voiced <= self.talk_hangover

    @property
    def buffered_seconds(self) -> float:
        """Agent audio queued and not yet played."""
        return len(self._playout) / SAMPLE_RATE

    async def wait_agent_speech(self, timeout: float | None = 30.0) -> bool:
        """Wait until the agent is heard talking (True at once if it is); False on timeout or close."""
        if self.agent_talking:
            return True
        return await self._wait(_Waiter(self._future(), time.monotonic(), None, False), timeout)

    async def wait_agent_silence(self, min_silence_s: float = 0.8, timeout: float | None = 30.0,
                                 since: float | None = None) -> bool:
        """Wait until the agent has talked (at or after ``since``, default now, or is talking) and then
        been silent for ``min_silence_s``. False on timeout or close."""
        since = time.monotonic() if since is None else since
        heard = self.agent_talking or (self._last_voiced is not None and self._last_voiced >= since)
        return await self._wait(_Waiter(self._future(), since, min_silence_s, heard), timeout)

    def _future(self) -> asyncio.Future[bool]:
        return asyncio.get_running_loop().create_future()

    async def _wait(self, waiter: _Waiter, timeout: float | None) -> bool:
        if self.closed:
            return False
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter.future, timeout)
        except TimeoutError:
            return False
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    # -- the 20 ms tick ------------------------------------------------------------------------

    async def _tick(self, now: float) -> None:
        if self.closed or self._ws is None:
            return
        # Agent side first: marks whose audio finished playing by now, then this tick's frame.
        self._echo_played_marks()
        agent = bool(self._playout)
        if agent:
            frame = bytes(self._playout[:FRAME_BYTES])
            del self._playout[:FRAME_BYTES]
            self._played += len(frame)
            if len(frame) < FRAME_BYTES:
                frame += SILENCE_FRAME[len(frame):]
            voiced = max(frame.translate(_LEVEL)) >= self.voice_level
        else:
            frame, voiced = SILENCE_FRAME, False
        self._played_mulaw += frame
        self.played.append(PlayedTick(now, agent, voiced))
        self._track_agent(now, voiced)
        # Caller side: one frame of queued speech, or silence.
        speech = False
        if self._outgoing:
            segment = self._outgoing[0]
            chunk = segment.data[segment.pos:segment.pos + FRAME_BYTES]
            segment.pos += FRAME_BYTES
            speech = segment.speech
            if segment.pos >= len(segment.data):
                self._outgoing.popleft()
            if len(chunk) < FRAME_BYTES:
                chunk += SILENCE_FRAME[len(chunk):]
        else:
            chunk = SILENCE_FRAME
        self._track_caller(now, speech)
        self._chunk += 1
        self._sent_mulaw += chunk
        self.sent.append(SentFrame(now, speech))
        timestamp = int((now - (self.started_at or now)) * 1000)
        message = (f'{{"event":"media","sequenceNumber":"{self._next_seq()}","media":{{"track":"inbound",'
                   f'"chunk":"{self._chunk}","timestamp":"{timestamp}",'
                   f'"payload":"{base64.b64encode(chunk).decode()}"}},"streamSid":"{self.stream_sid}"}}')
        try:
            await self._flush()
            await self._ws.send_str(message)
        except (ConnectionError, RuntimeError, aiohttp.ClientError):
            await self._close(by_server=True)

    def _track_caller(self, now: float, speech: bool) -> None:
        if speech and self._speech_started is None:
            self._speech_started = now
        elif not speech and self._speech_started is not None:
            self.caller_turns.append((self._speech_started, self.sent[-1].t))
            self._speech_started = None
        if not self._outgoing and self._drain_waiters:
            for future in self._drain_waiters:
                if not future.done():
                    future.set_result(True)
            self._drain_waiters.clear()

    def _track_agent(self, now: float, voiced: bool) -> None:
        if voiced:
            if self._spurt_start is None:
                self._spurt_start = now
            self._last_voiced = now
        elif self._spurt_start is not None and self._last_voiced is not None \
                and now - self._last_voiced > self.talk_hangover:
            self.agent_turns.append((self._spurt_start, self._last_voiced))
            self._spurt_start = None
        if not self._waiters:
            return
        for waiter in list(self._waiters):
            if waiter.future.done():
                continue
            if voiced and now >= waiter.since:
                waiter.heard = True
            if not waiter.heard:
                continue
            if (
                waiter.min_silence is None
                or self._last_voiced is not None
                and now - self._last_voiced >= waiter.min_silence
            ):
                waiter.future.set_result(True)

    def _finish_spurts(self, now: float) -> None:
        if self._spurt_start is not None and self._last_voiced is not None:
            self.agent_turns.append((self._spurt_start, self._last_voiced))
            self._spurt_start = None
        if self._speech_started is not None and self.sent:
            self.caller_turns.append((self._speech_started, self.sent[-1].t))
            self._speech_started = None

    # -- server messages -----------------------------------------------------------------------

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for msg in self._ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self._handle(msg.data)
                    if self._outbox:
                        await self._flush()
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    self._log("error", {"error": repr(self._ws.exception())})
                    break
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._log("error", {"error": repr(exc)})
        if not self.closed:
            await self._close(by_server=True)

    def _handle(self, text: str) -> None:
        now = time.monotonic()
        try:
            message = json.loads(text)
            event = message["event"]
        except (ValueError, KeyError, TypeError):
            self._log("error", {"error": "unparseable message", "text": text[:200]})
            return
        if event == "media":
            try:
                payload = base64.b64decode(message["media"]["payload"])
            except (KeyError, TypeError, ValueError):
                self._log("error", {"error": "bad media message", "text": text[:200]})
                return
            self.received.append(ReceivedFrame(now, payload))
            self._playout += payload
            self._enqueued += len(payload)
        elif event == "mark":
            name = str((message.get("mark") or {}).get("name", ""))
            self._log("mark_received", {"name": name, "buffered": len(self._playout)})
            self._pending_marks.append((name, self._enqueued))
            self._echo_played_marks()
        elif event == "clear":
            dropped = len(self._playout)
            self._playout.clear()
            self._played = self._enqueued
            self._log("clear", {"dropped_bytes": dropped, "pending_marks": len(self._pending_marks)})
            self._echo_played_marks()
        else:
            self._log("unknown", {"event": event})

    def _echo_played_marks(self) -> None:
        while self._pending_marks and self._pending_marks[0][1] <= self._played:
            name, _ = self._pending_marks.popleft()
            message = {"event": "mark", "sequenceNumber": self._next_seq(), "streamSid": self.stream_sid,
                       "mark": {"name": name}}
            self._log("mark_sent", {"name": name})
            self._outbox.append(json.dumps(message))

    # -- sending -------------------------------------------------------------------------------

    def _next_seq(self) -> str:
        self._seq += 1
        return str(self._seq)

    async def _send_json(self, message: dict[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send_str(json.dumps(message))

    async def _flush(self) -> None:
        """Send queued control messages, oldest first. aiohttp writes a frame to the transport before
        its first await, so messages go out in the order their sequence numbers were given."""
        while self._outbox and self._ws is not None and not self._ws.closed:
            await self._ws.send_str(self._outbox.pop(0))

    def _log(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append(ClientEvent(time.monotonic(), kind, data))

    # -- results -------------------------------------------------------------------------------

    def events_of(self, kind: str) -> list[ClientEvent]:
        return [e for e in self.events if e.kind == kind]

    def agent_audio(self) -> bytes:
        """The agent audio as played (PCM16, 8 kHz), silence included: one 20 ms frame per tick."""
        return mulaw_to_pcm16(bytes(self._played_mulaw))

    def agent_audio_received(self) -> bytes:
        """Every agent media payload received, back to back (PCM16, 8 kHz), cleared audio included."""
        return mulaw_to_pcm16(b"".join(frame.payload for frame in self.received))

    def caller_audio(self) -> bytes:
        """The caller audio as sent (PCM16, 8 kHz), silence included, on the same ticks as agent_audio."""
        return mulaw_to_pcm16(bytes(self._sent_mulaw))

    def speech_sent_times(self, since: float, level: float) -> list[float]:
        """When each caller frame of speech (queued with ``say`` and louder than ``level``, PCM16 RMS) left, among
        those sent at or after ``since`` (monotonic)."""
        size = FRAME_BYTES
        times = []
        for index, frame in enumerate(self.sent):
            if frame.t < since or not frame.speech:
                continue
            pcm = np.frombuffer(mulaw_to_pcm16(bytes(self._sent_mulaw[index * size:(index + 1) * size])), dtype="<i2")
            if pcm.size and float(np.sqrt((pcm.astype(np.float32) ** 2).mean())) > level:
                times.append(frame.t)
        return times

    def write_agent_wav(self, path: str | Path) -> Path:
        """Write :meth:`agent_audio` as a mono 8 kHz WAV file."""
        return write_wav(path, self.agent_audio(), channels=1)

    def write_stereo_wav(self, path: str | Path) -> Path:
        """Write a stereo 8 kHz WAV: left the caller as sent, right the agent as played."""
        import numpy as np

        caller = np.frombuffer(self.caller_audio(), dtype=np.int16)
        agent = np.frombuffer(self.agent_audio(), dtype=np.int16)
        n = max(len(caller), len(agent))
        stereo = np.zeros((n, 2), dtype=np.int16)
        stereo[: len(caller), 0] = caller
        stereo[: len(agent), 1] = agent
        return write_wav(path, stereo.tobytes(), channels=2)

    def stats(self) -> dict[str, Any]:
        """Counts and timings (seconds relative to ``connected_at``) for reports and the simulator."""
        def rel(t: float | None) -> float | None:
            return None if t is None or self.connected_at is None else round(t - self.connected_at, 3)

        gaps = [b.t - a.t for a, b in zip(self.sent, self.sent[1:], strict=False)]
        return {
            "stream_sid": self.stream_sid,
            "connected": self.connected_at is not None,
            "closed": self.closed,
            "closed_by_server": self.closed_by_server,
            "frames_sent": len(self.sent),
            "speech_frames_sent": sum(1 for f in self.sent if f.speech),
            "frames_received": len(self.received),
            "bytes_received": sum(len(f.payload) for f in self.received),
            "agent_frames_played": sum(1 for p in self.played if p.agent),
            "marks_received": len(self.events_of("mark_received")),
            "marks_sent": len(self.events_of("mark_sent")),
            "clears": len(self.events_of("clear")),
            "dtmf_sent": len(self.events_of("dtmf")),
            "first_agent_audio_s": rel(self.received[0].t if self.received else None),
            "duration_s": rel(self.closed_at or time.monotonic()),
            "mean_frame_gap_ms": round(1000 * sum(gaps) / len(gaps), 2) if gaps else None,
            "max_frame_gap_ms": round(1000 * max(gaps), 2) if gaps else None,
            "caller_turns": [[rel(a), rel(b)] for a, b in self.caller_turns],
            "agent_turns": [[rel(a), rel(b)] for a, b in self.agent_turns],
        }


def write_wav(path: str | Path, pcm16: bytes, channels: int = 1, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write interleaved PCM16 to a WAV file (parent directories created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm16)
    return path
