"""A scripted WebRTC caller: what a browser running the widget does, as an aiortc peer.

It sends the offer to a streaming service's ``/web/offer`` (``docs/web-calls.md``), speaks PCM audio in
real time on its microphone track (silence between utterances, as a live microphone does), records the
agent's audio with the time each 20 ms frame arrived, and keeps every data-channel message. The tests of
the web transport, the web benchmark and its 50-peer load generator drive the streaming service with it.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import av
import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from streaming.transports.webrtc import PacedAudioTrack

RATE = 48000
FRAME_SAMPLES = 960  # 20 ms at 48 kHz
SPEECH_RMS = 300.0  # a received frame louder than this is agent speech (Opus silence decodes to ~0)


class MicrophoneTrack(PacedAudioTrack):
    """A microphone that plays queued PCM16 (48 kHz mono) in real time, silence otherwise."""

    def __init__(self) -> None:
        super().__init__(RATE)
        self._queue: deque[bytes] = deque()
        self.last_speech_sent_at: float | None = None  # when the last queued frame left

    def say(self, pcm16_48k: bytes) -> None:
        size = 2 * FRAME_SAMPLES
        for index in range(0, len(pcm16_48k), size):
            self._queue.append(pcm16_48k[index:index + size].ljust(size, b"\x00"))

    @property
    def speaking(self) -> bool:
        return bool(self._queue)

    def next_pcm(self) -> bytes | None:
        if not self._queue:
            return None
        pcm = self._queue.popleft()
        if not self._queue:
            self.last_speech_sent_at = time.monotonic()
        return pcm


@dataclass
class ReceivedFrame:
    at: float
    rms: float


@dataclass
class WebPeer:
    """One caller. ``await WebPeer.connect(offer_url, call_id, token)``; ``say()``; ``hang_up()``."""

    pc: RTCPeerConnection
    mic: MicrophoneTrack
    channel: Any
    messages: list[dict[str, Any]] = field(default_factory=list)
    frames: list[ReceivedFrame] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)  # what the caller heard, PCM16 48 kHz mono
    keep_audio: bool = True
    _reader: asyncio.Task[None] | None = None

    @classmethod
    async def connect(cls, offer_url: str, call_id: int, token: str, http: aiohttp.ClientSession,
                      keep_audio: bool = True, origin: str | None = None) -> WebPeer:
        pc = RTCPeerConnection()
        mic = MicrophoneTrack()
        pc.addTrack(mic)
        channel = pc.createDataChannel("parley")
        peer = cls(pc=pc, mic=mic, channel=channel, keep_audio=keep_audio)
        channel.on("message", peer._on_message)
        pc.on("track", peer._on_track)
        await pc.setLocalDescription(await pc.createOffer())  # aiortc gathers candidates here: no trickle
        body = {"call_id": call_id, "token": token, "type": "offer", "sdp": pc.localDescription.sdp}
        headers = {"Origin": origin} if origin else {}
        async with http.post(offer_url, json=body, headers=headers) as response:
            answer = await response.json()
            if response.status != 200:
                await pc.close()
                raise OfferRefused(response.status, answer)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        return peer

    def say(self, pcm16_48k: bytes) -> None:
        self.mic.say(pcm16_48k)

    async def hang_up(self) -> None:
        with contextlib.suppress(Exception):
            if self.channel.readyState == "open":
                self.channel.send(json.dumps({"type": "end"}))
                await asyncio.sleep(0.05)
        await self.close()

    async def close(self) -> None:
        await self.pc.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

    # ---------------------------------------------------------------- what arrived

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == kind]

    def states(self) -> list[str]:
        return [m["state"] for m in self.events("state")]

    def first_speech_after(self, t: float) -> float | None:
        """When the first frame of agent speech arrived after ``t`` (monotonic), if one has."""
        return next((f.at for f in self.frames if f.at > t and f.rms > SPEECH_RMS), None)

    async def wait_for(self, predicate: Any, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("the condition did not come true in time")
            await asyncio.sleep(0.01)

    def _on_message(self, message: Any) -> None:
        if isinstance(message, str):
            with contextlib.suppress(ValueError):
                self.messages.append(json.loads(message))

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio" and self._reader is None:
            self._reader = asyncio.ensure_future(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        await receive_audio(track, self._heard)

    def _heard(self, at: float, rms: float, pcm: bytes) -> None:
        self.frames.append(ReceivedFrame(at, rms))
        if self.keep_audio:
            self.audio += pcm


async def receive_audio(track: MediaStreamTrack, heard: Callable[[float, float, bytes], None]) -> None:
    """Receive an audio track until it ends: each piece, resampled to 48 kHz mono PCM16, goes to
    ``heard(arrived_at, rms, pcm)`` (``arrived_at`` on the monotonic clock)."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    with contextlib.suppress(MediaStreamError):
        while True:
            frame = await track.recv()
            if not isinstance(frame, av.AudioFrame):
                continue
            now = time.monotonic()
            for piece in resampler.resample(frame):
                samples = piece.to_ndarray().reshape(-1)
                level = samples.astype(np.float32)
                heard(now, float(np.sqrt(np.mean(level * level))), samples.astype("<i2").tobytes())


class OfferRefused(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"offer refused with {status}: {body}")
        self.status = status
        self.body = body
