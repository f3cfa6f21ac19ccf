"""/web-calls: a browser (public key) or a server (secret key) starts a web call (docs/web-calls.md).

Not behind the API-key authorizer, which knows only secret keys: ``chalicelib.domain.web_calls``
authenticates the bearer key itself. Browsers call it cross-origin, so it answers CORS preflights for any
origin; which origins may use a public key is checked by the domain against the agent's allowed origins.
"""
from __future__ import annotations

import os
from functools import lru_cache

from chalice import Blueprint, CORSConfig

from chalicelib.api.auth import bearer_token
from chalicelib.api.routing import ApiRequest, RouteSpec, api_route
from chalicelib.domain import web_calls
from chalicelib.domain.ice_servers import ICE_SERVERS_ENV, KVS_CHANNEL_ENV, IceConfigError, IceServers
from chalicelib.observability import logger
from chalicelib.schemas.web_calls import WebCallCreate, WebCallStarted

bp = Blueprint(__name__)
TAG = "Web calls"
CORS = CORSConfig(allow_origin="*", allow_headers=["Authorization", "Content-Type"], expose_headers=["Retry-After"],
                  max_age=600)
ERRORS = {
    401: "Missing or unknown key (a public pub_ key or a secret API key)",
    403: "Public key: the widget is disabled (widget_disabled) or the page's Origin is not allowed "
         "(origin_not_allowed)",
    404: "No such agent in the account (with a public key: any agent but the key's own)",
    429: "Public key: too many web calls for this key or from this address (see Retry-After)",
    503: "Web calls are not configured on this deployment (web_calls_not_configured) or unavailable",
}


@lru_cache(maxsize=4)
def _ice_servers_for(kvs_channel_arn: str, configured: str) -> IceServers:
    """One ``IceServers`` (and so one TURN credential cache) per process and configuration."""
    return IceServers.from_env({KVS_CHANNEL_ENV: kvs_channel_arn, ICE_SERVERS_ENV: configured})


def _ice_servers() -> IceServers | None:
    try:
        return _ice_servers_for(os.environ.get(KVS_CHANNEL_ENV, ""), os.environ.get(ICE_SERVERS_ENV, ""))
    except IceConfigError:
        logger.exception("web calls: the ICE configuration is not valid")
        return None


@api_route(bp, "/web-calls", "POST", RouteSpec(
    "Start a web call (browser: the agent's public key; server: a secret API key)", TAG, body=WebCallCreate,
    responses={201: WebCallStarted}, authenticates_itself=True, cors=CORS, errors=ERRORS))
def create_web_call(req: ApiRequest) -> WebCallStarted:
    context = bp.current_request.context or {}
    request = web_calls.WebCallRequest(
        bearer=bearer_token(req.headers.get("authorization")), origin=req.headers.get("origin"),
        source_ip=(context.get("identity") or {}).get("sourceIp"), body=req.body)
    return web_calls.start(request, _ice_servers())
