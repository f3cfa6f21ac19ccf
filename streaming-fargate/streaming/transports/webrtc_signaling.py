"""``POST /web/offer``: a browser's SDP offer in, the answer out, and the web call started.

The body is ``{"call_id", "token", "type": "offer", "sdp"}`` (``docs/web-calls.md``). The one-use token
from ``POST /api/v1/web-calls`` is checked first (HMAC, no I/O), then the SDP (an audio section offering
Opus), then the call is admitted: the call record's claim on ``media_stream_sid`` is what makes the token
one-use. Errors are JSON ``{"error", "error_description"}``: 400 bad JSON or SDP, 401 token forged,
expired or used, 413 too large, 503 busy or draining. Any origin may POST (CORS): the token is the
credential, and the API checked the page's origin when it issued it.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
from collections.abc import Callable
from typing import Any

from aiohttp import web

from chalicelib.domain.call_media import Rejected
from chalicelib.telephony import stream_tokens
from streaming.call_core import ServiceState
from streaming.transports.webrtc import WebRtcCall

log = logging.getLogger("parley.streaming.webrtc")
MAX_OFFER_BYTES = 64 * 1024
CORS_HEADERS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "POST, OPTIONS",
                "Access-Control-Allow-Headers": "Content-Type", "Access-Control-Max-Age": "600"}
_OPUS = re.compile(r"^a=rtpmap:\d+ opus/48000", re.IGNORECASE | re.MULTILINE)

IceServers = Callable[[], list[dict[str, Any]]]
"""Where the server's own ICE servers come from (the same source as the ones handed to browsers); may block
(KVS TURN credentials are fetched over HTTPS, then cached), so it runs in a worker thread."""


def error(status: int, code: str, description: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": code, "error_description": description}, status=status,
                             headers={**CORS_HEADERS, **(headers or {})})


def sdp_problem(sdp: str) -> str | None:
    """Why an offer cannot be a web call (None: it can be tried)."""
    if not sdp.startswith("v=0"):
        return "sdp is not a session description (it must start with v=0)"
    audio = re.split(r"^m=", sdp, flags=re.MULTILINE)
    sections = [section for section in audio[1:] if section.startswith("audio ")]
    if not sections:
        return "the offer has no audio section"
    if not any(_OPUS.search(section) for section in sections):
        return "the offer's audio does not include Opus at 48 kHz"
    return None


async def preflight(request: web.Request) -> web.Response:
    return web.Response(status=204, headers=CORS_HEADERS)


def offer_handler(state_key: web.AppKey[ServiceState], ice_servers: IceServers) -> Callable[..., Any]:
    async def web_offer(request: web.Request) -> web.Response:
        state = request.app[state_key]
        if state.draining:
            return error(503, "draining", "this server is shutting down", {"Retry-After": "1"})
        if request.content_length is not None and request.content_length > MAX_OFFER_BYTES:
            return error(413, "payload_too_large", f"the offer is larger than {MAX_OFFER_BYTES} bytes")
        try:
            raw = await request.content.read(MAX_OFFER_BYTES + 1)
        except Exception:
            return error(400, "bad_request", "could not read the request body")
        if len(raw) > MAX_OFFER_BYTES:
            return error(413, "payload_too_large", f"the offer is larger than {MAX_OFFER_BYTES} bytes")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return error(400, "bad_request", "the body is not JSON")
        if not isinstance(body, dict):
            return error(400, "bad_request", "the body must be a JSON object")
        call_id, token, sdp = body.get("call_id"), body.get("token"), body.get("sdp")
        if not isinstance(call_id, int) or isinstance(call_id, bool) or not isinstance(token, str):
            return error(400, "bad_request", "call_id (an integer) and token (a string) are required")
        if body.get("type", "offer") != "offer" or not isinstance(sdp, str):
            return error(400, "bad_offer", "type must be 'offer' and sdp a string")
        if not state.token_secret or stream_tokens.verify(state.token_secret, token, call_id) is None:
            return error(401, "invalid_token", "the web-call token is forged, expired or for another call")
        problem = sdp_problem(sdp)
        if problem is not None:
            return error(400, "bad_offer", problem)
        if state.streams >= state.settings.max_streams or state.web_calls >= state.settings.max_web_calls:
            state.counters["refused_busy"] += 1
            return error(503, "busy", "this server is at its limit of calls; try again in a moment",
                         {"Retry-After": "1"})
        state.streams += 1  # both released when the call's task ends (or below, if it never starts)
        state.web_calls += 1
        started = False
        call: WebRtcCall | None = None
        try:
            try:
                call = WebRtcCall(state, call_id, await asyncio.to_thread(ice_servers))
            except Exception as failure:  # the ICE configuration failed: say so, never a 500
                log.exception("no ICE servers")
                return error(503, "ice_unavailable", f"ICE servers are unavailable: {type(failure).__name__}",
                             {"Retry-After": "5"})
            try:
                answer = await asyncio.wait_for(call.answer(sdp), state.settings.web_negotiation_timeout_s)
            except TimeoutError:
                return error(503, "negotiation_timeout", "could not gather ICE candidates in time",
                             {"Retry-After": "1"})
            except (ValueError, TypeError) as problem_found:
                state.counters["rejected_offer"] += 1
                return error(400, "bad_offer", f"the offer cannot be answered: {problem_found}"[:300])
            try:
                admission = await asyncio.to_thread(state.lifecycle.admit, str(call_id), token,
                                                    f"web-{secrets.token_hex(8)}", state.token_secret)
            except Rejected as refused:
                state.counters["rejected_admission"] += 1
                return error(401, "invalid_token", str(refused))
            except Exception:  # the call records cannot be reached: say so in JSON, never a bare 500
                state.counters["errors"] += 1
                log.exception("admitting a web call failed")
                return error(503, "unavailable", "the call could not be admitted; try again", {"Retry-After": "1"})
            task = asyncio.ensure_future(_run(state, call, admission))
            state.background.add(task)
            task.add_done_callback(state.background.discard)
            started = True
            state.counters["web_calls"] += 1
            return web.json_response({"type": "answer", "sdp": answer}, headers=CORS_HEADERS)
        finally:
            if not started:
                state.streams -= 1
                state.web_calls -= 1
                if call is not None:
                    with contextlib.suppress(Exception):
                        await call.close()

    return web_offer


async def _run(state: ServiceState, call: WebRtcCall, admission: Any) -> None:
    try:
        await call.run(admission)
    except Exception:
        state.counters["errors"] += 1
        log.exception("web call failed")
    finally:
        state.streams -= 1
        state.web_calls -= 1
        with contextlib.suppress(Exception):
            await call.close()
