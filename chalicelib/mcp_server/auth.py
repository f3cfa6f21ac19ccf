"""ASGI middleware: ``Authorization: Bearer <api key>`` -> the key's account, for the rest of the request.

The same keys and lookup as the REST API's authorizer (``chalicelib.domain.accounts.key_owner``). Without a
valid key the answer is 401 with Parley's JSON error body and ``WWW-Authenticate: Bearer``; the key itself is
never logged.
"""
from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from typing import Any

import anyio.to_thread

from chalicelib.domain.accounts import account_for_key
from chalicelib.mcp_server.account import acting_for
from chalicelib.observability import logger

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Coroutine[Any, Any, None]]

UNAUTHORIZED = {
    "error": "unauthorized",
    "error_description": "send your Parley API key as 'Authorization: Bearer <api key>'",
}
UNAVAILABLE = {"error": "unavailable", "error_description": "could not check the API key right now; try again"}


def bearer_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


class BearerAccount:
    """Runs ``app`` acting for the account that owns the request's bearer key; 401 otherwise."""

    def __init__(self, app: AsgiApp, owner_of: Callable[[str], int | None] = account_for_key) -> None:
        self.app = app
        self.owner_of = owner_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan
            await self.app(scope, receive, send)
            return
        token = bearer_token(scope.get("headers") or [])
        try:
            account = await anyio.to_thread.run_sync(self.owner_of, token) if token else None
        except Exception:  # the key store failing is a 503 to retry, never a 500
            logger.exception("mcp api key lookup failed")
            await _json(send, 503, UNAVAILABLE, [(b"retry-after", b"1")])
            return
        if account is None:
            logger.info("mcp request without a valid api key", extra={"had_bearer_token": token is not None})
            await _json(send, 401, UNAUTHORIZED, [(b"www-authenticate", b'Bearer realm="parley"')])
            return
        with acting_for(account):
            await self.app(scope, receive, send)


async def _json(send: Send, status: int, payload: dict[str, str], headers: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers,
    ]})
    await send({"type": "http.response.body", "body": body})
