"""What every WebRTC signaling endpoint of the service does (``/web/offer``, ``/whatsapp/*``).

A request is refused as early and as cheaply as possible: draining, too large, not JSON, a forged token (HMAC,
no I/O), a full server. A refusal is a :class:`Refusal`, answered as JSON ``{"error", "error_description"}``
(never a 500). A peer connection holds a :class:`MediaSlot` (it counts against ``max_streams`` and
``max_web_calls``) from the moment it is made until its call's task ends. Admission claims the call record's
``media_stream_sid``: what makes a token one-use.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from aiohttp import web

from chalicelib.domain.call_media import Admission, Rejected
from chalicelib.telephony import stream_tokens
from streaming.call_core import ServiceState

log = logging.getLogger("parley.streaming.webrtc")
MAX_BODY_BYTES = 64 * 1024
_OPUS = re.compile(r"^a=rtpmap:\d+ opus/48000", re.IGNORECASE | re.MULTILINE)

PeerT = TypeVar("PeerT")
IceServers = Callable[[], list[dict[str, Any]]]
"""Where the server's own ICE servers come from (the same source as the ones handed to browsers); may block
(KVS TURN credentials are fetched over HTTPS, then cached), so it runs in a worker thread."""


class Refusal(Exception):
    """A request this endpoint will not serve: its JSON error."""

    def __init__(self, status: int, code: str, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status, self.code, self.description, self.retry_after = status, code, description, retry_after

    def response(self, headers: Mapping[str, str] | None = None) -> web.Response:
        extra = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        return web.json_response({"error": self.code, "error_description": self.description}, status=self.status,
                                 headers={**(headers or {}), **extra})


@dataclass(frozen=True)
class CallRequest:
    """An authentic request about one call: its body, the call and its stream token's claims."""

    body: dict[str, Any]
    call_id: int
    token: str
    claims: dict[str, Any]

    @property
    def account_id(self) -> int:
        return int(self.claims["a"])

    @property
    def expires_at(self) -> float:
        """When the token expires (epoch seconds): admission needs it still valid."""
        return float(self.claims["exp"])


async def call_request(request: web.Request, state: ServiceState) -> CallRequest:
    """The request's JSON body with an authentic ``call_id`` and ``token``; Refusal otherwise."""
    if state.draining:
        raise Refusal(503, "draining", "this server is shutting down", retry_after=1)
    too_large = Refusal(413, "payload_too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise too_large
    try:
        raw = await request.content.read(MAX_BODY_BYTES + 1)
    except Exception:
        raise Refusal(400, "bad_request", "could not read the request body") from None
    if len(raw) > MAX_BODY_BYTES:
        raise too_large
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Refusal(400, "bad_request", "the body is not JSON") from None
    if not isinstance(body, dict):
        raise Refusal(400, "bad_request", "the body must be a JSON object")
    call_id, token = body.get("call_id"), body.get("token")
    if not isinstance(call_id, int) or isinstance(call_id, bool) or not isinstance(token, str):
        raise Refusal(400, "bad_request", "call_id (an integer) and token (a string) are required")
    claims = stream_tokens.verify(state.token_secret, token, call_id) if state.token_secret else None
    if claims is None:
        raise Refusal(401, "invalid_token", "the call's token is forged, expired or for another call")
    return CallRequest(body=body, call_id=call_id, token=token, claims=claims)


def sdp_problem(sdp: str) -> str | None:
    """Why an offer cannot be taken (None: it can be tried): not SDP, no audio, or no Opus at 48 kHz."""
    if not sdp.startswith("v=0"):
        return "sdp is not a session description (it must start with v=0)"
    sections = [section for section in re.split(r"^m=", sdp, flags=re.MULTILINE)[1:] if section.startswith("audio ")]
    if not sections:
        return "the offer has no audio section"
    if not any(_OPUS.search(section) for section in sections):
        return "the offer's audio does not include Opus at 48 kHz"
    return None


def offered_sdp(body: dict[str, Any]) -> str:
    """The body's ``sdp``, checked by :func:`sdp_problem`; Refusal (400 ``bad_offer``) otherwise."""
    sdp = body.get("sdp")
    if not isinstance(sdp, str):
        raise Refusal(400, "bad_offer", "sdp must be a string")
    problem = sdp_problem(sdp)
    if problem is not None:
        raise Refusal(400, "bad_offer", problem)
    return sdp


class MediaSlot:
    """One WebRTC peer's place on this server, held until :meth:`release` (idempotent)."""

    def __init__(self, state: ServiceState, whatsapp: bool = False) -> None:
        settings = state.settings
        if state.streams >= settings.max_streams or state.web_calls >= settings.max_web_calls:
            state.counters["refused_busy"] += 1
            raise Refusal(503, "busy", "this server is at its limit of calls; try again in a moment", retry_after=1)
        self._state, self._whatsapp, self._held = state, whatsapp, True
        state.streams += 1  # no await since the check: the count cannot be overtaken
        state.web_calls += 1
        state.whatsapp_calls += whatsapp

    def release(self) -> None:
        if self._held:
            self._held = False
            self._state.streams -= 1
            self._state.web_calls -= 1
            self._state.whatsapp_calls -= self._whatsapp


class Peer(Protocol):
    """A transport with a peer connection (:class:`streaming.transports.webrtc.WebRtcCall` and kin)."""

    async def answer(self, offer_sdp: str) -> str: ...

    async def run(self, admission: Admission) -> None: ...

    async def close(self) -> None: ...


async def answer_offer(state: ServiceState, request: CallRequest, sdp: str,
                       make: Callable[[list[dict[str, Any]]], Peer], ice_servers: IceServers, kind: str) -> str:
    """A remote offer answered, the call admitted (stream ``{kind}-<hex>``) and started; the answer SDP.
    Refusal when any step fails (nothing is left behind: the peer is closed, its slot released)."""
    slot = MediaSlot(state, whatsapp=kind == "whatsapp")
    call: Peer | None = None
    try:
        call = await new_peer(make, ice_servers)
        answer = await negotiate(state, call.answer(sdp))
        admission = await admit(state, request, kind)
        start(state, call, admission, slot)
        state.counters[f"{kind}_calls"] += 1
        return answer
    except BaseException:
        slot.release()
        if call is not None:
            with contextlib.suppress(Exception):
                await call.close()
        raise


async def new_peer(make: Callable[[list[dict[str, Any]]], PeerT], ice_servers: IceServers) -> PeerT:
    """``make(ice_servers)`` with this deployment's ICE servers; Refusal (503) when they cannot be had."""
    try:
        return make(await asyncio.to_thread(ice_servers))
    except Exception as failure:  # the ICE configuration failed: say so, never a 500
        log.exception("no ICE servers")
        raise Refusal(503, "ice_unavailable", f"ICE servers are unavailable: {type(failure).__name__}",
                      retry_after=5) from None


async def negotiate(state: ServiceState, step: Awaitable[str]) -> str:
    """The SDP ``step`` makes (ICE gathered), within the negotiation timeout. ValueError/TypeError: a bad offer."""
    try:
        return await asyncio.wait_for(step, state.settings.web_negotiation_timeout_s)
    except TimeoutError:
        raise Refusal(503, "negotiation_timeout", "could not gather ICE candidates in time", retry_after=1) from None
    except (ValueError, TypeError) as problem:
        state.counters["rejected_offer"] += 1
        raise Refusal(400, "bad_offer", f"the offer cannot be answered: {problem}"[:300]) from None


async def admit(state: ServiceState, request: CallRequest, sid_prefix: str) -> Admission:
    """Claim the call for a new stream ``{sid_prefix}-<hex>``; Refusal when it may not or cannot be."""
    try:
        return await asyncio.to_thread(state.lifecycle.admit, str(request.call_id), request.token,
                                       f"{sid_prefix}-{secrets.token_hex(8)}", state.token_secret)
    except Rejected as refused:
        state.counters["rejected_admission"] += 1
        raise Refusal(401, "invalid_token", str(refused)) from None
    except Exception:  # the call records cannot be reached: say so in JSON, never a bare 500
        state.counters["errors"] += 1
        log.exception("admitting a %s call failed", sid_prefix)
        raise Refusal(503, "unavailable", "the call could not be admitted; try again", retry_after=1) from None


def start(state: ServiceState, call: Peer, admission: Admission, slot: MediaSlot) -> None:
    """Run the admitted call as a task of its own; its slot is released when it ends."""
    task = asyncio.ensure_future(_run(state, call, admission, slot))
    state.background.add(task)
    task.add_done_callback(state.background.discard)


async def _run(state: ServiceState, call: Peer, admission: Admission, slot: MediaSlot) -> None:
    try:
        await call.run(admission)
    except Exception:
        state.counters["errors"] += 1
        log.exception("WebRTC call failed")
    finally:
        slot.release()
        with contextlib.suppress(Exception):
            await call.close()
