"""The MCP Lambda: API Gateway's ``ANY /api/v1/mcp`` -> Mangum -> the SDK's ASGI app.

Mangum runs the app's lifespan around each invocation, and the SDK's session manager can run only once, so
each invocation gets a fresh app around the one server (tools and schemas are built once per container).
"""
from __future__ import annotations

from typing import Any

from mangum import Mangum

from chalicelib.mcp_server.http_app import domain_server, http_app, transport_security_from_env

SERVER = domain_server()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    adapter = Mangum(http_app(SERVER, transport_security_from_env()), lifespan="on")
    return adapter(event, context)
