"""The Lambda events API Gateway WebSocket APIs send their route handlers, built for the local stand-in.

The shapes are API Gateway's (Lambda proxy integration): ``$connect`` carries the upgrade request's headers
(names as the client sent them) and query string, ``$default`` the message body, ``$disconnect`` the close
status; each has a ``requestContext`` with the connection's id, the route key and event type, the API's id,
stage and domain name, and the caller's identity.
"""
from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


def new_id() -> str:
    """An API-Gateway-like id (connection, request, message): 11 random bytes, base64, ending with ``=``.

    URL-safe alphabet, so an id needs no escaping in ``/@connections/{id}`` beyond what clients do anyway.
    """
    return base64.urlsafe_b64encode(secrets.token_bytes(11)).decode()


def epoch_ms() -> int:
    return int(time.time() * 1000)


def request_time(at_ms: int) -> str:
    """``requestTime`` as API Gateway writes it, e.g. ``09/Apr/2024:18:03:41 +0000``."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(at_ms / 1000))


@dataclass(frozen=True)
class ConnectionInfo:
    """What every event of one connection repeats."""

    connection_id: str
    api_id: str
    stage: str
    domain_name: str
    source_ip: str
    user_agent: str
    connected_at_ms: int


def _request_context(conn: ConnectionInfo, route_key: str, event_type: str, at_ms: int) -> dict[str, Any]:
    request_id = new_id()
    return {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": request_time(at_ms),
        "messageDirection": "IN",
        "stage": conn.stage,
        "connectedAt": conn.connected_at_ms,
        "requestTimeEpoch": at_ms,
        "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent},
        "requestId": request_id,
        "domainName": conn.domain_name,
        "connectionId": conn.connection_id,
        "apiId": conn.api_id,
    }


def _single_and_multi(pairs: Iterable[tuple[str, str]]) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    """API Gateway's pair of maps: the last value of each name, and all of them in order; both null when empty."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return (single, multi) if single else (None, None)


def connect_event(conn: ConnectionInfo, headers: Iterable[tuple[str, str]],
                  query: Iterable[tuple[str, str]]) -> dict[str, Any]:
    header_map, multi_headers = _single_and_multi(headers)
    query_map, multi_query = _single_and_multi(query)
    return {
        "headers": header_map or {},
        "multiValueHeaders": multi_headers or {},
        "queryStringParameters": query_map,
        "multiValueQueryStringParameters": multi_query,
        "requestContext": _request_context(conn, "$connect", "CONNECT", conn.connected_at_ms),
        "isBase64Encoded": False,
    }


def message_event(conn: ConnectionInfo, data: str | bytes) -> dict[str, Any]:
    """A text frame's body as is; a binary frame's base64 with ``isBase64Encoded`` true, as API Gateway does."""
    context = _request_context(conn, "$default", "MESSAGE", epoch_ms())
    context["messageId"] = new_id()
    binary = isinstance(data, bytes)
    return {
        "requestContext": context,
        "body": base64.b64encode(data).decode() if isinstance(data, bytes) else data,
        "isBase64Encoded": binary,
    }


def disconnect_event(conn: ConnectionInfo, status_code: int, reason: str) -> dict[str, Any]:
    context = _request_context(conn, "$disconnect", "DISCONNECT", epoch_ms())
    context["disconnectStatusCode"] = status_code
    context["disconnectReason"] = reason
    return {
        "headers": {"Host": conn.domain_name},
        "multiValueHeaders": {"Host": [conn.domain_name]},
        "requestContext": context,
        "isBase64Encoded": False,
    }


def gateway_error_message(conn: ConnectionInfo, message: str) -> str:
    """What API Gateway sends the client when a route's integration fails (or no route matches)."""
    return json.dumps({"message": message, "connectionId": conn.connection_id, "requestId": new_id()})
