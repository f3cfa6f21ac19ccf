"""API Gateway's own errors (missing route, rejected key, throttling...) in Parley's JSON error shape.

The deployed REST API writes these as GatewayResponses (``infra/``) and the local stack's gateway serves
the same table, so local and deployed APIs answer alike. A status of None keeps the status API Gateway
chose (``DEFAULT_4XX`` covers every other gateway-level 4xx).
"""
from __future__ import annotations

import json

GATEWAY_ERRORS: dict[str, tuple[int | None, str, str]] = {
    "UNAUTHORIZED": (401, "unauthorized", "missing or invalid API key: send Authorization: Bearer <key>"),
    "ACCESS_DENIED": (403, "forbidden", "this API key may not use this resource"),
    "MISSING_AUTHENTICATION_TOKEN": (404, "not_found", "no such route"),
    "THROTTLED": (429, "rate_limited", "too many requests; retry after a short pause"),
    "REQUEST_TOO_LARGE": (413, "payload_too_large", "request is larger than the API accepts"),
    "DEFAULT_4XX": (None, "bad_request", "the request was rejected by the API gateway"),
    "DEFAULT_5XX": (502, "gateway_error", "the API could not handle the request"),
}


def gateway_error(kind: str) -> tuple[int | None, bytes]:
    status, code, description = GATEWAY_ERRORS[kind]
    return status, json.dumps({"error": code, "error_description": description}).encode()
