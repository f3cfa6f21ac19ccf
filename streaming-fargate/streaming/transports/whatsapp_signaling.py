"""``POST /whatsapp/answer`` and ``POST /whatsapp/offer``: a WhatsApp call's SDP, for the API (docs/whatsapp-calls.md
section 5).

Only the API asks (the token is the call's stream token, which only it mints); server to server, so no CORS.
Both take ``{"call_id", "token"}`` and answer JSON; errors are ``{"error", "error_description"}`` as for
``/web/offer`` (:mod:`streaming.transports.signaling`).

- ``/whatsapp/answer`` (a user calls the business): ``sdp`` is WhatsApp's offer (Opus at 48 kHz); the answer
  is returned, the call admitted (stream ``whatsapp-<hex>``) and started.
- ``/whatsapp/offer`` (the business calls a user): this side's offer is returned; the call then rings
  (:mod:`streaming.transports.whatsapp_ring`) until the user's answer arrives as a control. This needs the
  task's monitoring link (the controls' way in): without live monitoring the endpoint answers 503.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from aiohttp import web

from streaming.call_core import ServiceState
from streaming.transports import signaling
from streaming.transports.signaling import IceServers, MediaSlot, Refusal
from streaming.transports.whatsapp import WhatsAppCall
from streaming.transports.whatsapp_ring import Ring

Handler = Callable[[web.Request], Any]


def answer_handler(state_key: web.AppKey[ServiceState], ice_servers: IceServers) -> Handler:
    async def whatsapp_answer(request: web.Request) -> web.Response:
        state = request.app[state_key]
        try:
            call_request = await signaling.call_request(request, state)
            sdp = signaling.offered_sdp(call_request.body)
            answer = await signaling.answer_offer(
                state, call_request, sdp, lambda servers: WhatsAppCall(state, call_request.call_id, servers),
                ice_servers, "whatsapp")
        except Refusal as refusal:
            return refusal.response()
        return web.json_response({"type": "answer", "sdp": answer})

    return whatsapp_answer


def offer_handler(state_key: web.AppKey[ServiceState], ice_servers: IceServers) -> Handler:
    async def whatsapp_offer(request: web.Request) -> web.Response:
        state = request.app[state_key]
        try:
            return web.json_response({"type": "offer", "sdp": await _offer(state, request, ice_servers)})
        except Refusal as refusal:
            return refusal.response()

    return whatsapp_offer


async def _offer(state: ServiceState, request: web.Request, ice_servers: IceServers) -> str:
    call_request = await signaling.call_request(request, state)
    hub = state.monitor
    if hub is None:
        raise Refusal(503, "not_configured", "this server has no monitoring link: the user's answer could not reach it")
    slot = MediaSlot(state, whatsapp=True)
    ring: Ring | None = None
    call: WhatsAppCall | None = None
    try:
        ring = Ring(state, hub, call_request, slot)
        call = await signaling.new_peer(lambda servers: WhatsAppCall(state, call_request.call_id, servers),
                                        ice_servers)
        offer = await signaling.negotiate(state, call.offer())
        await ring.listen()
        ring.start(call)
        return offer
    except BaseException:
        if ring is not None:
            ring.forget()
        slot.release()
        if call is not None:
            with contextlib.suppress(Exception):
                await call.close()
        raise
