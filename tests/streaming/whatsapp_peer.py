"""WhatsApp's media server, as an aiortc peer: what the streaming service meets in a WhatsApp call.

Its descriptions are WhatsApp's shape: one send-and-receive audio section offering Opus (``opus/48000/2``)
and nothing else, ICE candidates gathered, ``a=setup:actpass`` in offers, no data channel. It offers (a user
calls the business) or answers (the business calls a user), speaks PCM on its microphone in real time and
notes when each frame of the agent's audio arrived and how loud it was.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription

from devstack.web_peer import SPEECH_RMS, MicrophoneTrack, ReceivedFrame, receive_audio
from streaming.transports.whatsapp import opus_codecs


@dataclass
class WhatsAppMedia:
    pc: RTCPeerConnection = field(default_factory=RTCPeerConnection)
    mic: MicrophoneTrack = field(default_factory=MicrophoneTrack)
    frames: list[ReceivedFrame] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.pc.on("track", self._on_track)

    async def offer(self) -> str:
        """WhatsApp's offer for a user-initiated call."""
        transceiver = self.pc.addTransceiver(self.mic, direction="sendrecv")
        transceiver.setCodecPreferences(opus_codecs())
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept(self, answer_sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))

    async def answer(self, offer_sdp: str) -> str:
        """The user's answer to the business's offer."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        self.pc.addTrack(self.mic)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return str(self.pc.localDescription.sdp)

    def say(self, pcm16_48k: bytes) -> None:
        self.mic.say(pcm16_48k)

    async def close(self) -> None:
        await self.pc.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

    # ---------------------------------------------------------------- what arrived

    def speech_after(self, t: float) -> float | None:
        """When the first frame of agent speech arrived after ``t`` (monotonic), if one has."""
        return next((f.at for f in self.frames if f.at > t and f.rms > SPEECH_RMS), None)

    def quiet_for(self, seconds: float) -> bool:
        """The agent has spoken, and nothing it said has arrived for ``seconds``."""
        last = next((f.at for f in reversed(self.frames) if f.rms > SPEECH_RMS), None)
        return last is not None and time.monotonic() - last > seconds

    def said_everything(self) -> float | None:
        """When the microphone's last queued frame left (None while it is still speaking)."""
        return None if self.mic.speaking else self.mic.last_speech_sent_at

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio" and self._reader is None:
            self._reader = asyncio.ensure_future(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        await receive_audio(track, lambda at, rms, _pcm: self.frames.append(ReceivedFrame(at, rms)))


async def wait_for(predicate: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the condition did not come true in time")
        await asyncio.sleep(0.01)
