"""The WhatsApp transport: a WhatsApp call's media, between WhatsApp's media servers and aiortc.

The media is a web call's (Opus at 48 kHz, ICE, DTLS-SRTP; :class:`WebRtcCall` does all of it) with three
differences (docs/whatsapp-calls.md section 5):

- No data channel: live events have nowhere to go on this wire, and WhatsApp never opens one.
- Every description sent to WhatsApp is audio only with SHA-256 fingerprints only (:mod:`whatsapp_sdp`).
  A user-initiated call is answered (:meth:`WebRtcCall.answer`); for a business-initiated one this side makes
  the offer (:meth:`WhatsAppCall.offer`, Opus only) and applies the user's answer later
  (:meth:`WhatsAppCall.accept`).
- WhatsApp, not the peer connection, says when the user hung up (the ``caller_hung_up`` control). When the call
  ends for any other reason, WhatsApp is asked to end it (``Lifecycle.hang_up_carrier``, once, in a worker
  thread, beside the call's finalization).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpCodecCapability, RTCRtpSender, RTCSessionDescription

from chalicelib.domain.call_media import Admission
from streaming.call_core import ServiceState
from streaming.transports.signaling import sdp_problem
from streaming.transports.webrtc import AgentAudioTrack, WebRtcCall
from streaming.transports.whatsapp_sdp import for_whatsapp

log = logging.getLogger("parley.streaming.whatsapp")


def opus_codecs() -> list[RTCRtpCodecCapability]:
    """aiortc's Opus codec (WhatsApp calls carry nothing else)."""
    return [codec for codec in RTCRtpSender.getCapabilities("audio").codecs if codec.mimeType.lower() == "audio/opus"]


class WhatsAppCall(WebRtcCall):
    channel = "whatsapp"
    data_channel = False

    def __init__(self, state: ServiceState, call_id: int, ice_servers: list[dict[str, Any]]) -> None:
        super().__init__(state, call_id, ice_servers)
        self._carrier_asked = False

    # ---------------------------------------------------------------- signaling

    async def answer(self, offer_sdp: str) -> str:
        """WhatsApp's offer applied; the answer as WhatsApp takes it. ValueError: the offer cannot be answered."""
        return for_whatsapp(await super().answer(offer_sdp))

    async def offer(self) -> str:
        """This side's offer for a business-initiated call: one send-and-receive Opus audio section, ICE gathered
        (no trickle)."""
        transceiver = self.pc.addTransceiver(AgentAudioTrack(self._sink), direction="sendrecv")
        transceiver.setCodecPreferences(opus_codecs())
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return for_whatsapp(str(self.pc.localDescription.sdp))

    async def accept(self, answer_sdp: str) -> None:
        """The user's answer to :meth:`offer`. ValueError when it is not an answer this call can use."""
        problem = sdp_problem(answer_sdp)
        if problem is not None:
            raise ValueError(problem.replace("offer", "answer"))
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))
        except Exception as failure:  # aiortc raises what its parser meets (ValueError, KeyError, IndexError...)
            raise ValueError(f"the answer cannot be applied: {type(failure).__name__}: {failure}"[:300]) from None
        if self._remote is None:
            raise ValueError("the answer sends no audio")

    @property
    def hung_up(self) -> bool:
        """WhatsApp said the user hung up (:meth:`caller_hung_up`)."""
        return self._caller_ended

    def caller_hung_up(self) -> None:
        """WhatsApp says the user hung up before the call was running: the call, if it starts, ends at once."""
        self._caller_ended = True
        self._gone.set()

    # ---------------------------------------------------------------- the end

    async def close(self) -> None:
        await self._close_peer()  # no data channel to flush
        self._ask_carrier_to_hang_up()

    def _ask_carrier_to_hang_up(self) -> None:
        """Once, for a call that ran and did not end with WhatsApp saying the user hung up."""
        live, hang_up = self.live, self.state.lifecycle.hang_up_carrier
        if live is None or self._carrier_asked or hang_up is None or live.ended_by == "caller":
            return
        self._carrier_asked = True
        task = asyncio.ensure_future(self._hang_up_carrier(hang_up, live.admission))
        self.state.background.add(task)  # a shutdown waits for it, as for the calls
        task.add_done_callback(self.state.background.discard)

    async def _hang_up_carrier(self, hang_up: Callable[[Admission], None], admission: Admission) -> None:
        try:
            await asyncio.to_thread(hang_up, admission)
            self.state.counters["carrier_hang_ups"] += 1
        except Exception:
            self.state.counters["carrier_hang_up_errors"] += 1
            log.exception("asking WhatsApp to end the call failed")
