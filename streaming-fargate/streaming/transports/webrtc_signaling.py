"""``POST /web/offer``: a browser's SDP offer in, the answer out, and the web call started.

The body is ``{"call_id", "token", "type": "offer", "sdp"}`` (``docs/web-calls.md``). The one-use token
from ``POST /api/v1/web-calls`` is checked first (HMAC, no I/O), then the SDP (an audio section offering
Opus), then the call is admitted (:mod:`streaming.transports.signaling` does what every signaling endpoint
does). Errors are JSON ``{"error", "error_description"}``: 400 bad JSON or SDP, 401 token forged, expired or
used, 413 too large, 503 busy or draining. Any origin may POST (CORS): the token is the credential, and the
API checked the page's origin when it issued it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from streaming.call_core import ServiceState
from streaming.transports import signaling
from streaming.transports.signaling import IceServers, Refusal
from streaming.transports.webrtc import WebRtcCall

__all__ = ["CORS_HEADERS", "IceServers", "offer_handler", "preflight"]
CORS_HEADERS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "POST, OPTIONS",
                "Access-Control-Allow-Headers": "Content-Type", "Access-Control-Max-Age": "600"}


async def preflight(request: web.Request) -> web.Response:
    return web.Response(status=204, headers=CORS_HEADERS)


def offer_handler(state_key: web.AppKey[ServiceState], ice_servers: IceServers) -> Callable[..., Any]:
    async def web_offer(request: web.Request) -> web.Response:
        state = request.app[state_key]
        try:
            return await _answer(state, request, ice_servers)
        except Refusal as refusal:
            return refusal.response(CORS_HEADERS)

    return web_offer


async def _answer(state: ServiceState, request: web.Request, ice_servers: IceServers) -> web.Response:
    call_request = await signaling.call_request(request, state)
    if call_request.body.get("type", "offer") != "offer":
        raise Refusal(400, "bad_offer", "type must be 'offer'")
    sdp = signaling.offered_sdp(call_request.body)
    answer = await signaling.answer_offer(
        state, call_request, sdp, lambda servers: WebRtcCall(state, call_request.call_id, servers), ice_servers, "web")
    return web.json_response({"type": "answer", "sdp": answer}, headers=CORS_HEADERS)
