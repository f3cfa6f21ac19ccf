"""Routes the REST API sends to a Lambda of their own (``AWS_PROXY`` integrations outside the Chalice app),
invoked the way API Gateway invokes them: a REST proxy event in, a proxy response out.

``/api/v1/mcp`` is the MCP server (``chalicelib.mcp_server.aws_lambda``; deployed by ``parley_infra.mcp``).
"""
from __future__ import annotations

import asyncio
import base64
import importlib
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]

ROUTES = {"/api/v1/mcp": "chalicelib.mcp_server.aws_lambda:handler"}
"""Path -> ``module:function``; the module is imported on the first request (it builds its server)."""


def handler_for(path: str) -> LambdaHandler | None:
    target = ROUTES.get(urlsplit(path).path.rstrip("/") or "/")
    if target is None:
        return None
    module, _, function = target.partition(":")
    handler: LambdaHandler = getattr(importlib.import_module(module), function)
    return handler


def proxy_event(method: str, path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    parts = urlsplit(path)
    query = parse_qs(parts.query, keep_blank_values=True)
    return {
        "resource": parts.path,
        "path": parts.path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": {name: values[-1] for name, values in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "body": base64.b64encode(body).decode() if body else None,
        "isBase64Encoded": bool(body),
        "requestContext": {"resourcePath": parts.path, "httpMethod": method, "path": parts.path, "stage": "api",
                           "identity": {"sourceIp": "127.0.0.1"}},
    }


def invoke(handler: LambdaHandler, method: str, path: str, headers: dict[str, str],
           body: bytes) -> tuple[int, dict[str, str], bytes]:
    """Run ``handler`` on this thread (with an event loop of its own, as a Lambda container has one)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        response = handler(proxy_event(method, path, headers, body), None)
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    raw = response.get("body") or ""
    out = base64.b64decode(raw) if response.get("isBase64Encoded") else raw.encode()
    out_headers = dict(response.get("headers") or {})
    for name, values in (response.get("multiValueHeaders") or {}).items():
        out_headers[name] = ", ".join(values)
    return int(response["statusCode"]), out_headers, out
