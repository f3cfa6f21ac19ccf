"""/monitor/tokens and /calls/{id}/control: live monitoring's REST side (docs/monitoring.md)."""
from __future__ import annotations

from datetime import UTC, datetime

from chalice import Blueprint

from chalicelib.api.auth import bearer_token
from chalicelib.api.routing import ApiRequest, RouteSpec, api_route
from chalicelib.domain.accounts import hash_key
from chalicelib.domain.errors import Unavailable
from chalicelib.monitoring import controls, sender, tokens
from chalicelib.schemas.monitoring import Control, ControlAccepted, MonitorToken
from chalicelib.telephony import stream_tokens

bp = Blueprint(__name__)
TAG = "Live monitoring"


@api_route(bp, "/monitor/tokens", "POST", RouteSpec(
    "Issue a short-lived token that opens the monitoring WebSocket (for browsers)", TAG,
    responses={201: MonitorToken}, errors={503: "Live monitoring is not configured on this deployment"}))
def issue_monitor_token(req: ApiRequest) -> MonitorToken:
    secret = stream_tokens.configured_secret()
    if not secret or not sender.monitor_url():
        raise Unavailable("live monitoring is not configured on this deployment")
    key = bearer_token(req.headers.get("authorization")) or ""
    issued_at = datetime.now(UTC).timestamp()
    token = tokens.issue_monitor_token(secret, req.account_id, hash_key(key), now=issued_at)
    return MonitorToken(token=token, expires_at=datetime.fromtimestamp(int(issued_at) + tokens.MONITOR_TTL_S, UTC),
                        expires_in=tokens.MONITOR_TTL_S, monitor_url=sender.monitor_url())


@api_route(bp, "/calls/{call_id}/control", "POST", RouteSpec(
    "Send a supervisor control to a live call: say something, or end it", TAG, body=Control,
    responses={202: ControlAccepted},
    errors={409: "The call has no live conversation (call_not_live)"}))
def control_call(req: ApiRequest, call_id: int) -> ControlAccepted:
    body: Control = req.body
    control = {"type": body.type, **({"text": body.text} if body.text is not None else {})}
    note = controls.send(req.account_id, call_id, control)
    return ControlAccepted(call_id=call_id, control=note["control"],
                           accepted_at=datetime.fromtimestamp(note["requested_at"], UTC))
