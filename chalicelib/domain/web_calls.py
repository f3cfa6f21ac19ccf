"""Web calls: a browser starts a call with an agent, then sends its WebRTC offer to the streaming service.

``POST /web-calls`` (see docs/web-calls.md) is authenticated here, not by the API's authorizer, because
a page holds the agent's *public* key (``pub_...``), which the authorizer does not accept:

- a public key names one agent; its widget must be enabled (403 ``widget_disabled``), the request's
  ``Origin`` must be one of the widget's allowed origins (403 ``origin_not_allowed``) and the body's
  ``agent_id`` must be that agent (404). Public-key requests are rate limited per client address (before
  the key is looked up) and per key (``rate_limits``: 429 with ``Retry-After``);
- a secret API key (server side) may start a web call with any agent of its account; no origin check.

The call is created ``queued`` on channel ``web`` (no numbers: ``to_number`` is ``""``), with a one-use
stream token valid :data:`TOKEN_TTL_S` seconds (one use because admission claims the call for one media
stream with a conditional write, ``call_media.admit``). A call whose offer never arrives is ended
``failed`` (reason ``not_connected``) by a delayed message (:data:`EXPIRY_DELAY_S`) on the campaign-ops
queue (:func:`expire_unconnected`): the caller's address and user agent are never stored.

Environment: ``PARLEY_WEB_OFFER_URL`` (the streaming service's offer endpoint; unset: 503
``web_calls_not_configured``), ``PARLEY_STREAM_TOKEN_SECRET`` (the secret the Twilio path signs with), and
the ICE settings of ``ice_servers``.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib import queues
from chalicelib.db.models import Call
from chalicelib.db.sequences import next_id
from chalicelib.domain import rate_limits, web_widget
from chalicelib.domain.accounts import key_owner
from chalicelib.domain.agent_settings import AgentSettings
from chalicelib.domain.agents import agent_key, get_agent
from chalicelib.domain.call_end import end_call
from chalicelib.domain.errors import Forbidden, NotFound, Unauthenticated, Unavailable, ValidationFailed
from chalicelib.domain.ice_servers import IceConfigError, IceServers
from chalicelib.domain.origins import origin_of_request
from chalicelib.domain.unconnected import end_unconnected
from chalicelib.monitoring import publish as monitoring
from chalicelib.observability import logger
from chalicelib.schemas.web_calls import WebCallCreate, WebCallStarted
from chalicelib.telephony import stream_tokens

CHANNEL = "web"
TOKEN_TTL_S = 60
EXPIRY_MARGIN_S = 30
EXPIRY_DELAY_S = TOKEN_TTL_S + EXPIRY_MARGIN_S  # SQS delays up to 900 s
EXPIRE_OP = "expire_web_call"
NOT_CONNECTED = "not_connected"
EXPIRED_STREAM = "web:not_connected"
"""What an expired call's ``media_stream_sid`` is claimed with, so no stream can join it afterwards."""
MAX_CONTEXT_BYTES = 16 * 1024  # as dispatch's


class WidgetDisabled(Forbidden):
    code = "widget_disabled"


class OriginNotAllowed(Forbidden):
    code = "origin_not_allowed"


class NotConfigured(Unavailable):
    code = "web_calls_not_configured"


class IceUnavailable(Unavailable):
    code = "ice_servers_unavailable"


UNAUTHENTICATED = ("missing or invalid key: send Authorization: Bearer <the agent's public key (pub_...) "
                   "or a secret API key>")


@dataclass(frozen=True)
class WebCallRequest:
    """What the route hands over: the bearer token, the ``Origin`` header and the client's address."""

    bearer: str | None
    origin: str | None
    source_ip: str | None
    body: WebCallCreate


@dataclass(frozen=True)
class WebCallSettings:
    offer_url: str | None
    stream_token_secret: str | None

    @classmethod
    def from_env(cls) -> WebCallSettings:
        return cls(offer_url=os.environ.get("PARLEY_WEB_OFFER_URL") or None,
                   stream_token_secret=stream_tokens.configured_secret() or None)


def start(request: WebCallRequest, ice: IceServers | None, settings: WebCallSettings | None = None,
          now: float | None = None) -> WebCallStarted:
    """Authenticate the caller, create the call and hand back what the page needs to connect."""
    account_id = _authorized_account(request)
    body = request.body
    settings = settings or WebCallSettings.from_env()
    if not settings.offer_url or not settings.stream_token_secret or ice is None:
        raise NotConfigured("web calls are not configured on this deployment")
    if len(json.dumps(body.call_context)) > MAX_CONTEXT_BYTES:
        raise ValidationFailed(f"call_context is larger than {MAX_CONTEXT_BYTES} bytes", field="call_context")
    try:
        ice_servers = ice.as_json()
    except IceConfigError:
        logger.exception("web call: no ICE servers")
        raise IceUnavailable("web calls are unavailable right now (no ICE servers); try again later") from None
    call = Call(account_id, next_id("call"), agent_key=agent_key(account_id, body.agent_id), agent_id=body.agent_id,
                to_number="", from_number_id=None, status="queued", channel=CHANNEL,
                call_context=body.call_context, active_account=account_id)
    call.save(condition=Call.call_id.does_not_exist())
    monitoring.call_queued(call)
    try:
        queues.send(queues.CAMPAIGN_OPS, expiry_message(call), delay_seconds=EXPIRY_DELAY_S)
    except Exception:
        logger.exception("web call: expiry not scheduled; the call is ended now", extra={"call_id": call.call_id})
        end_call(call, "failed", {"reason": "not scheduled"})
        raise Unavailable("web calls are unavailable right now; try again later") from None
    moment = time.time() if now is None else now
    token = stream_tokens.issue(settings.stream_token_secret, account_id, call.call_id, ttl_seconds=TOKEN_TTL_S,
                                now=moment)
    logger.info("web call created", extra={"call_id": call.call_id, "agent_id": body.agent_id})
    return WebCallStarted(call_id=call.call_id, token=token,
                          expires_at=datetime.fromtimestamp(int(moment + TOKEN_TTL_S), UTC),
                          offer_url=settings.offer_url, ice_servers=ice_servers)


def _authorized_account(request: WebCallRequest) -> int:
    """The account the call is made in, after every check its key calls for (see the module docstring)."""
    token = request.bearer
    if not token:
        raise Unauthenticated(UNAUTHENTICATED)
    if not web_widget.is_public_key(token):
        owner = key_owner(token)
        if owner is None:
            raise Unauthenticated(UNAUTHENTICATED)
        get_agent(owner.account_id, request.body.agent_id)
        return owner.account_id
    if request.source_ip:
        rate_limits.check(request.source_ip, rate_limits.web_calls_per_ip_limit())
    widget_owner = web_widget.resolve(token)
    if widget_owner is None:
        raise Unauthenticated(UNAUTHENTICATED)
    try:
        agent = get_agent(widget_owner.account_id, widget_owner.agent_id)
    except NotFound:  # deleted with its key a moment ago
        raise Unauthenticated(UNAUTHENTICATED) from None
    widget = AgentSettings.from_stored(agent.config).web_widget
    if widget is None or not widget.enabled:
        raise WidgetDisabled("this agent's web widget is disabled")
    origin = origin_of_request(request.origin)
    if origin is None or origin not in widget.allowed_origins:
        raise OriginNotAllowed("this page's origin is not one of the agent's web_widget.allowed_origins")
    if request.body.agent_id != widget_owner.agent_id:
        raise NotFound(f"agent {request.body.agent_id} not found", field="agent_id")
    rate_limits.check(token, rate_limits.web_calls_per_key_limit())
    return widget_owner.account_id


def expiry_message(call: Call) -> dict[str, Any]:
    return {"op": EXPIRE_OP, "account_id": call.account_id, "call_id": call.call_id}


def expire_unconnected(message: dict[str, Any]) -> bool:
    """End a web call nobody connected to (failed, ``not_connected``); True when this ended it
    (``unconnected.end_unconnected``)."""
    try:
        call = Call.get(int(message["account_id"]), int(message["call_id"]), consistent_read=True)
    except Call.DoesNotExist:
        return False
    ended = end_unconnected(call, "failed", {"reason": NOT_CONNECTED}, EXPIRED_STREAM)
    logger.info("web call not connected", extra={"call_id": call.call_id, "ended": ended})
    return ended
