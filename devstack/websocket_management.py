"""The connections the WebSocket gateway holds, and API Gateway's management API over them.

``POST``/``GET``/``DELETE /@connections/{id}``, what boto3's ``apigatewaymanagementapi`` client calls (with
``endpoint_url`` the gateway's ``management_url``), with API Gateway's statuses and error shapes: botocore
reads the error's type from ``x-amzn-ErrorType`` (so ``client.exceptions.GoneException`` etc. are raised).
A request must carry an ``Authorization`` header (API Gateway answers unsigned ones 403); the SigV4
signature itself is not checked.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSCloseCode, web

from devstack import websocket_events as events

MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway's limit on a message, either way


@dataclass
class Connection:
    info: events.ConnectionInfo
    ws: web.WebSocketResponse
    inbox: asyncio.Queue[str | bytes | None] = field(default_factory=asyncio.Queue)
    last_active: float = field(default_factory=time.monotonic)
    last_active_ms: int = field(default_factory=events.epoch_ms)
    close_requested: asyncio.Future[tuple[int, str]] = field(default_factory=asyncio.Future)
    close_code: int | None = None  # as the close frame said (aiohttp's may say 1006 after a protocol error)
    close_reason: str = ""

    def touch(self) -> None:
        self.last_active, self.last_active_ms = time.monotonic(), events.epoch_ms()

    @property
    def gone(self) -> bool:
        return self.close_requested.done() or self.ws.closed


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def management_api(connections: Mapping[str, Connection], close: Callable[[Connection, int, str], None]) -> Handler:
    """The handler of ``/@connections/{connection_id}`` over the gateway's open connections; ``close`` closes one
    from the gateway's side (with a close code and reason)."""

    async def manage(request: web.Request) -> web.StreamResponse:
        if "Authorization" not in request.headers or request.method not in ("POST", "GET", "DELETE"):
            return error_response(403, "ForbiddenException", "Missing Authentication Token")  # API Gateway's answer
        conn = connections.get(request.match_info["connection_id"])
        if conn is None or conn.gone:
            return error_response(410, "GoneException", None)
        if request.method == "GET":
            return json_response(200, {
                "connectedAt": _iso(conn.info.connected_at_ms), "lastActiveAt": _iso(conn.last_active_ms),
                "identity": {"sourceIp": conn.info.source_ip, "userAgent": conn.info.user_agent},
            })
        if request.method == "DELETE":
            close(conn, WSCloseCode.OK, "")
            return web.Response(status=204)
        try:
            data = await request.read()
        except web.HTTPRequestEntityTooLarge:
            data = None
        if data is None or len(data) > MAX_MESSAGE_BYTES:
            return error_response(413, "PayloadTooLargeException", "Message too long")
        try:
            await conn.ws.send_str(data.decode("utf-8", errors="replace"))
        except ConnectionError:
            return error_response(410, "GoneException", None)
        conn.touch()
        return web.Response(status=200)

    return manage


def error_response(status: int, error_type: str, message: str | None) -> web.Response:
    """A management API error as API Gateway sends it; botocore reads the type from ``x-amzn-ErrorType``."""
    response = json_response(status, {"message": message})
    response.headers["x-amzn-ErrorType"] = error_type
    return response


def json_response(status: int, payload: dict[str, Any]) -> web.Response:
    return web.Response(status=status, text=json.dumps(payload), content_type="application/json")


def _iso(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
