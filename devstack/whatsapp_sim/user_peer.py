"""The WhatsApp user's device: an aiortc peer with a microphone (the script's voice) and an ear (the agent's
audio, recorded). Audio only, no data channel; its descriptions carry only ``a=fingerprint:sha-256``, as
WhatsApp's do, and it refuses a remote description carrying any other fingerprint (WhatsApp's rule)."""
from __future__ import annotations

import asyncio
import contextlib

from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from devstack.web_peer import MicrophoneTrack
from devstack.whatsapp_sim import sdp as sdp_rules
from devstack.whatsapp_sim.agent_audio import AgentListener, until


class SdpRefused(ValueError):
    """A remote description WhatsApp would not accept."""


class UserPeer:
    def __init__(self) -> None:
        # No STUN/TURN: the local stack is all on loopback (aiortc would otherwise try Google's STUN server).
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.mic = MicrophoneTrack()
        self.listener = AgentListener()
        self.remote_applied = False
        self._reader: asyncio.Task[None] | None = None
        self.pc.on("track", self._on_track)

    async def offer(self) -> str:
        """The user's offer (user-initiated calls), with only sha-256 fingerprints."""
        self.pc.addTrack(self.mic)
        await self.pc.setLocalDescription(await self.pc.createOffer())  # gathers candidates: no trickle
        return sdp_rules.only_sha256(self.pc.localDescription.sdp)

    async def apply_answer(self, sdp: str) -> None:
        refuse_if_foreign(sdp, offer=False)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        self.remote_applied = True

    async def answer(self, offer_sdp: str) -> str:
        """Answer a business's offer (business-initiated calls), with only sha-256 fingerprints."""
        refuse_if_foreign(offer_sdp, offer=True)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        self.remote_applied = True
        self.pc.addTrack(self.mic)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return sdp_rules.only_sha256(self.pc.localDescription.sdp)

    @property
    def connected(self) -> bool:
        return self.pc.connectionState == "connected"

    @property
    def broken(self) -> bool:
        return self.pc.connectionState in ("failed", "closed")

    async def wait_connected(self, timeout: float) -> bool:
        return await until(lambda: self.connected or self.broken, timeout) and self.connected

    async def wait_mic_idle(self, timeout: float) -> bool:
        """Until everything said has left the microphone."""
        return await until(lambda: not self.mic.speaking or self.broken, timeout)

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a half-negotiated connection may raise inside aiortc
            await self.pc.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio" and self._reader is None:
            self._reader = asyncio.ensure_future(self.listener.read(track))


def refuse_if_foreign(sdp: str, *, offer: bool) -> None:
    problems = sdp_rules.problems(sdp, offer=offer)
    if problems:
        raise SdpRefused("; ".join(problems))
