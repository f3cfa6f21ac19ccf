"""The WebRTC transport: a browser (or any WebRTC peer) talking to the call core through aiortc.

Media is Opus at 48 kHz both ways; the core's format here is PCM16 mono at 16 kHz (:data:`MEDIA_RATE`):
caller audio is decoded by aiortc and resampled with libswresample (stateful, so 20 ms frames join
without clicks); agent audio goes out through :mod:`streaming.transports.webrtc_audio` (pacing, and the marks
WebRTC does not have).

Live events (captions, state) go to the page as JSON on the data channel ``parley`` (buffered until it
opens). The page's ``{"type": "end"}`` or closing the peer connection is the caller hanging up.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from typing import Any

import av
from aiortc import MediaStreamTrack, RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from chalicelib.domain.call_media import Admission
from streaming.call_core import LiveCall, ServiceState
from streaming.pipeline.live_events import Listener
from streaming.pipeline.output import OutputSink
from streaming.pipeline.session import VoiceSession
from streaming.transports.aiortc_receive import release_frames_at_once
from streaming.transports.limits import AudioRateLimit
from streaming.transports.webrtc_audio import AgentAudioTrack, WebRtcSink
from streaming.transports.webrtc_audio import PacedAudioTrack as PacedAudioTrack  # where callers have imported it

log = logging.getLogger("parley.streaming.webrtc")
MEDIA_RATE = 16000
MAX_PENDING_EVENTS = 200  # live events kept while the data channel is not open yet
CHANNEL_LABEL = "parley"


def ice_configuration(servers: list[dict[str, Any]]) -> RTCConfiguration:
    """aiortc's configuration from ICE servers in the browser's shape ({urls, username?, credential?})."""
    return RTCConfiguration(iceServers=[
        RTCIceServer(urls=server["urls"], username=server.get("username"), credential=server.get("credential"))
        for server in servers])


class WebRtcCall:
    """One peer connection from offer to hang-up; the transport the call core talks to."""

    channel = "web"
    media_rate = MEDIA_RATE
    data_channel = True  # live events go to the peer on the ``parley`` data channel

    def __init__(self, state: ServiceState, call_id: int, ice_servers: list[dict[str, Any]]) -> None:
        self.state = state
        self.call_id = call_id
        self.live: LiveCall | None = None  # the call, once admitted and running
        release_frames_at_once()  # caller audio goes to VAD and STT, not a speaker: no playout prefetch
        self.pc = RTCPeerConnection(ice_configuration(ice_servers))
        self._session: VoiceSession | None = None
        self._sink = WebRtcSink(self._mark_heard, state.settings.web_playout_delay_s)
        self._remote: MediaStreamTrack | None = None
        self._channel: Any = None
        self._pending_events: deque[str] = deque(maxlen=MAX_PENDING_EVENTS)
        self._caller_ended = False
        self._last_audio_at = time.monotonic()
        self._gone = asyncio.Event()  # the peer connection failed or closed
        self._closing: asyncio.Future[None] | None = None  # the peer connection's close, once started
        self.pc.on("track", self._on_track)
        if self.data_channel:
            self.pc.on("datachannel", self._on_datachannel)
        self.pc.on("connectionstatechange", self._on_connection_state)

    # ---------------------------------------------------------------- signaling

    async def answer(self, offer_sdp: str) -> str:
        """Apply the browser's offer; the answer SDP with our ICE candidates gathered. ValueError: bad offer."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        if self._remote is None:
            raise ValueError("the offer has no audio track")
        self.pc.addTrack(AgentAudioTrack(self._sink))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        description = self.pc.localDescription
        if "opus/48000" not in description.sdp.lower():
            raise ValueError("no Opus audio could be negotiated")
        return str(description.sdp)

    async def run(self, admission: Admission) -> None:
        """The call, from the answer to its finalization (a task of its own)."""
        if LiveCall.live_here(self.state, admission):
            self.state.counters["rejected_duplicate"] += 1
            await self.close()
            return
        self.live = LiveCall(self.state, admission, self)
        await self.live.run(self._pump)

    # ---------------------------------------------------------------- what the core asks of a transport

    def sink(self) -> OutputSink:
        return self._sink

    def live_events(self) -> Listener | None:
        return self._send_event if self.data_channel else None

    async def hang_up(self) -> None:
        await self._close_peer()

    async def shut_down(self) -> None:
        await self._close_peer()

    async def close(self) -> None:
        await self._flush_channel()
        await self._close_peer()

    # ---------------------------------------------------------------- media in

    async def _pump(self, session: VoiceSession) -> str | None:
        """Feed caller audio to the session until the caller leaves, the connection goes or the media stops.

        One reader task does the per-frame work; this waits once for whichever ends the call first (no
        futures made per frame)."""
        self._session = session
        self._last_audio_at = time.monotonic()  # the idle clock starts with the call (an offer may ring a while first)
        reader = asyncio.ensure_future(self._read(session))
        gone = asyncio.ensure_future(self._gone.wait())
        idle = asyncio.ensure_future(self._idle(self.state.settings.idle_timeout_s))
        try:
            done, _ = await asyncio.wait({reader, gone, idle}, return_when=asyncio.FIRST_COMPLETED)
            if reader in done:
                return reader.result()
            if idle in done:
                self.state.counters["closed_idle"] += 1
                return "idle"
            return "caller" if self._caller_ended else None
        finally:
            for task in (reader, gone, idle):
                task.cancel()
            await asyncio.gather(reader, gone, idle, return_exceptions=True)

    async def _read(self, session: VoiceSession) -> str | None:
        track = self._remote
        assert track is not None
        settings = self.state.settings
        resampler = av.AudioResampler(format="s16", layout="mono", rate=MEDIA_RATE)
        rate = AudioRateLimit(settings.max_audio_rate, settings.audio_rate_window_s, window_start=time.monotonic(),
                              bytes_per_second=2 * MEDIA_RATE)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return "caller" if self._caller_ended else None
            if not isinstance(frame, av.AudioFrame):
                continue
            now = self._last_audio_at = time.monotonic()
            for piece in resampler.resample(frame):
                pcm = piece.to_ndarray().tobytes()
                if rate.exceeded(len(pcm), now):
                    self.state.counters["refused_too_fast"] += 1
                    return "audio_too_fast"
                await session.on_audio(pcm, now)

    async def _idle(self, timeout_s: float) -> None:
        """Returns once no caller audio came for ``timeout_s`` (a browser sends audio even when muted)."""
        while True:
            remaining = self._last_audio_at + timeout_s - time.monotonic()
            if remaining <= 0:
                return
            await asyncio.sleep(remaining)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio" and self._remote is None:
            self._remote = track

    def _mark_heard(self, name: str) -> None:
        if self._session is not None:
            self._session.on_mark(name)

    def _on_connection_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            self._gone.set()

    async def _close_peer(self) -> None:
        """Close the peer connection once, to the end, whoever asks and whenever they are cancelled.

        The agent's hang-up closes it from a task of the session, which the session's own close cancels as soon as
        the media loop returns; aiortc's ``close`` cancelled halfway never completes, and every later ``close``
        waits for it forever (the call would never be finalized). So the close runs in a task of its own."""
        self._sink.close()
        self._gone.set()
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close_pc())
        await asyncio.shield(self._closing)

    async def _close_pc(self) -> None:
        with contextlib.suppress(Exception):
            await self.pc.close()

    # ---------------------------------------------------------------- the data channel

    def _on_datachannel(self, channel: Any) -> None:
        if channel.label != CHANNEL_LABEL or self._channel is not None:
            return
        self._channel = channel
        channel.on("open", self._channel_open)
        channel.on("message", self._on_message)
        if channel.readyState == "open":
            self._channel_open()

    def _channel_open(self) -> None:
        self._channel.send(json.dumps({"type": "call", "call_id": self.call_id}))
        while self._pending_events:
            self._channel.send(self._pending_events.popleft())

    def _on_message(self, message: Any) -> None:
        if not isinstance(message, str) or len(message) > 4096:
            return
        try:
            data = json.loads(message)
        except ValueError:
            return
        if isinstance(data, dict) and data.get("type") == "end":
            self._caller_ended = True
            self._gone.set()

    def _send_event(self, event: dict[str, Any]) -> None:
        text = json.dumps(event)
        channel = self._channel
        if channel is not None and channel.readyState == "open":
            channel.send(text)
        else:
            self._pending_events.append(text)

    async def _flush_channel(self, timeout_s: float = 0.5) -> None:
        """Give the last events (``ended``) a moment to leave before the connection closes."""
        channel = self._channel
        deadline = time.monotonic() + timeout_s
        while channel is not None and channel.readyState == "open" and channel.bufferedAmount > 0 \
                and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)  # SCTP hands the message to DTLS asynchronously
