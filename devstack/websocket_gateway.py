"""A local stand-in for an API Gateway WebSocket API in front of a Chalice app's ``@app.on_ws_*`` handlers.

``chalice local`` has no WebSockets; this serves them on 127.0.0.1 the way API Gateway does:

- An upgrade request runs ``$connect`` (the Lambda event API Gateway builds, see ``websocket_events``); a
  non-2xx ``statusCode`` refuses the upgrade with that status (and the response's headers and body): the
  WebSocket never opens and no other route runs. No ``$connect`` handler: every upgrade is accepted.
- Each message runs ``$default``; one connection's messages one at a time, in arrival order. A text frame's
  body is passed as is; a binary frame base64 with ``isBase64Encoded`` true (as API Gateway does). The
  handler's return value is not sent back (no route response, as Chalice deploys it); a handler that raises,
  or a missing ``$default``, sends the client API Gateway's error message (``Internal server error`` /
  ``Forbidden``) and the connection stays open. A message over 128 KiB closes the connection with 1009.
- Once a connection closes, whoever closed it, ``$disconnect`` runs once, after the messages received
  before the close were handled.
- Idle connections (no message either way; WebSocket pings do not count) close after ``idle_timeout_s``
  (API Gateway: 10 minutes), every connection after ``max_lifetime_s`` (2 hours), with 1001 "Going away".
- The management API at ``http://127.0.0.1:<port>`` (boto3 ``apigatewaymanagementapi`` with that
  ``endpoint_url``): ``POST``/``GET``/``DELETE /@connections/{id}``, with API Gateway's statuses and error
  shapes (410 ``GoneException`` for a connection that is gone or still connecting, 413
  ``PayloadTooLargeException`` over 128 KiB). A request must be signed (an ``Authorization`` header, else
  403 as API Gateway answers unsigned ones), but the SigV4 signature itself is not checked.

  ``DELETE`` closes the connection with 1000 (see ``websocket_management``).

Each route runs as Lambda runs it: ``app.handler_map[<handler name>](event, context)`` (Chalice's wrapper,
with its middleware), the route found in ``app.websocket_handlers``. Handlers block (boto3, PynamoDB): they
run in a thread pool, never on the event loop, which runs on its own thread (``start``/``stop``).
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import string
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import WebSocketError, WSCloseCode, WSMsgType, web
from chalice.local import LambdaContext

from devstack import websocket_events as events
from devstack.websocket_management import MAX_MESSAGE_BYTES, Connection, json_response, management_api

logger = logging.getLogger(__name__)

IDLE_TIMEOUT_S = 10 * 60
MAX_LIFETIME_S = 2 * 60 * 60
_GOING_AWAY = (WSCloseCode.GOING_AWAY, "Going away")


class WebSocketGateway:
    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, stage: str = "local",
                 idle_timeout_s: float = IDLE_TIMEOUT_S, max_lifetime_s: float = MAX_LIFETIME_S,
                 concurrency: int = 8) -> None:
        self._app = app
        self._host, self._port = host, port
        self.stage = stage
        self.api_id = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(10))
        self.idle_timeout_s, self.max_lifetime_s = idle_timeout_s, max_lifetime_s
        self._connections: dict[str, Connection] = {}
        self._upgrades: set[asyncio.Task[Any]] = set()  # every upgrade request being served, open or not
        self._stopping = False
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix="ws-lambda")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="websocket-gateway", daemon=True)
        self._runner: web.AppRunner | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> WebSocketGateway:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=30)
        return self

    def stop(self, timeout: float = 30) -> None:
        """Close every connection (each runs ``$disconnect``), then release the port."""
        if not self._thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(timeout), self._loop).result(timeout=timeout + 5)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._executor.shutdown(wait=False, cancel_futures=True)
            if not self._thread.is_alive():
                self._loop.close()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """What WebSocket clients connect to."""
        return f"ws://{self._host}:{self._port}/"

    @property
    def management_url(self) -> str:
        """The ``endpoint_url`` of the ``apigatewaymanagementapi`` client."""
        return f"http://{self._host}:{self._port}"

    async def _serve(self) -> None:
        web_app = web.Application(client_max_size=4 * MAX_MESSAGE_BYTES)
        web_app.router.add_get("/", self._upgrade)
        web_app.router.add_route("*", "/@connections/{connection_id}",
                                 management_api(self._connections, self._begin_close))
        self._runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, reuse_address=True)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    async def _shutdown(self, timeout: float) -> None:
        self._stopping = True
        for conn in list(self._connections.values()):
            self._begin_close(conn, *_GOING_AWAY)
        if self._upgrades:
            await asyncio.wait(list(self._upgrades), timeout=timeout)
        if self._runner is not None:
            await self._runner.cleanup()

    # -- connections -------------------------------------------------------------------------------------
    async def _upgrade(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        assert task is not None
        self._upgrades.add(task)
        try:
            return await self._serve_connection(request)
        finally:
            self._upgrades.discard(task)

    async def _serve_connection(self, request: web.Request) -> web.StreamResponse:
        if not web.WebSocketResponse().can_prepare(request).ok:
            return json_response(426, {"message": "Upgrade Required"})
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.raw_headers]
        info = events.ConnectionInfo(
            connection_id=events.new_id(), api_id=self.api_id, stage=self.stage, domain_name=request.host,
            source_ip=request.remote or "127.0.0.1", user_agent=request.headers.get("User-Agent", ""),
            connected_at_ms=events.epoch_ms())
        response = await self._invoke("$connect", events.connect_event(info, headers, request.query.items()))
        refused = _refusal(response)
        if refused is not None:
            return refused
        reply_headers = _response_headers(response if isinstance(response, dict) else {})
        protocol = reply_headers.pop("Sec-WebSocket-Protocol", None)
        # aiohttp refuses a message of max_msg_size bytes or more; API Gateway one of more than 128 KiB.
        ws = web.WebSocketResponse(protocols=(protocol,) if protocol else (), compress=False,
                                   max_msg_size=MAX_MESSAGE_BYTES + 1)
        ws.headers.update(reply_headers)
        await ws.prepare(request)
        conn = Connection(info, ws)
        self._connections[info.connection_id] = conn
        delivery = asyncio.create_task(self._deliver(conn))
        watchdog = asyncio.create_task(self._watch(conn))
        if self._stopping:
            self._begin_close(conn, *_GOING_AWAY)
        try:
            await self._read(conn)
        finally:
            del self._connections[info.connection_id]
            watchdog.cancel()
            if not ws.closed:
                await ws.close()
            conn.inbox.put_nowait(None)
            await delivery
            code = conn.close_code or ws.close_code or WSCloseCode.ABNORMAL_CLOSURE
            reason = conn.close_reason or _DEFAULT_REASONS.get(code, "")
            await self._invoke("$disconnect", events.disconnect_event(info, int(code), reason))
        return ws

    async def _read(self, conn: Connection) -> None:
        """Queue the client's messages until it closes, or until the gateway closes it.

        The gateway's close happens here, in the task reading the connection, so that it is a full close
        handshake (our close frame, then the client's), not a reader interrupted by another task.
        """
        ws = conn.ws
        while True:
            receiving = asyncio.ensure_future(ws.receive())
            either: list[asyncio.Future[Any]] = [receiving, conn.close_requested]
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if not receiving.done():
                receiving.cancel()
                await asyncio.wait({receiving})
                code, reason = conn.close_requested.result()
                conn.close_code, conn.close_reason = code, reason
                await ws.close(code=code, message=reason.encode())
                return
            msg = receiving.result()
            if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                conn.touch()
                conn.inbox.put_nowait(msg.data)
                continue
            if msg.type is WSMsgType.CLOSE:  # the client's close frame
                conn.close_code, conn.close_reason = int(msg.data), msg.extra or ""
            elif msg.type is WSMsgType.ERROR and isinstance(msg.data, WebSocketError):  # e.g. a message too big
                conn.close_code = msg.data.code
            return

    async def _deliver(self, conn: Connection) -> None:
        """Run ``$default`` for each message of one connection, in order, one at a time."""
        while (data := await conn.inbox.get()) is not None:
            if "$default" not in self._app.websocket_handlers:
                await self._send_error(conn, "Forbidden")  # API Gateway: no route matched
                continue
            try:
                await self._invoke("$default", events.message_event(conn.info, data), raise_errors=True)
            except Exception:
                await self._send_error(conn, "Internal server error")

    async def _send_error(self, conn: Connection, message: str) -> None:
        if not conn.gone:
            try:
                await conn.ws.send_str(events.gateway_error_message(conn.info, message))
            except ConnectionError:
                pass  # closed meanwhile

    async def _watch(self, conn: Connection) -> None:
        """Close the connection once idle too long or open too long, as API Gateway does."""
        opened = time.monotonic()
        while (wait := min(conn.last_active + self.idle_timeout_s, opened + self.max_lifetime_s)
               - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        self._begin_close(conn, *_GOING_AWAY)

    def _begin_close(self, conn: Connection, code: int, reason: str) -> None:
        """Have the connection closed from the gateway's side (by the task reading it, see ``_read``)."""
        if not conn.gone:
            conn.close_requested.set_result((code, reason))

    async def _invoke(self, route_key: str, event: dict[str, Any], raise_errors: bool = False) -> Any:
        """Run the route's Lambda handler in the thread pool: its response, ``None`` without a handler.

        A handler that raises: ``$connect`` answers 500 (as API Gateway does for a failed integration).
        """
        config = self._app.websocket_handlers.get(route_key)
        if config is None:
            return None
        handler: Callable[[dict[str, Any], Any], Any] = self._app.handler_map[config.name]
        context = LambdaContext(config.name, memory_size=512, max_runtime_ms=29_000)
        try:
            return await self._loop.run_in_executor(self._executor, handler, event, context)
        except Exception:
            logger.exception("websocket %s handler failed", route_key)
            if raise_errors:
                raise
            return {"statusCode": 500, "body": json.dumps({"message": "Internal server error"})}


_DEFAULT_REASONS: dict[int, str] = {
    WSCloseCode.OK: "Connection Closed Normally",
    WSCloseCode.GOING_AWAY: "Going away",
    WSCloseCode.MESSAGE_TOO_BIG: "Message too big",
    WSCloseCode.ABNORMAL_CLOSURE: "Client-side close frame status not set",
}


def _refusal(response: Any) -> web.Response | None:
    """The HTTP answer refusing the upgrade, if ``$connect``'s response is not 2xx."""
    if not isinstance(response, dict):
        return None
    status = int(response.get("statusCode", 200))
    if 200 <= status < 300:
        return None
    body = response.get("body") or b""
    if response.get("isBase64Encoded") and isinstance(body, str):
        body = base64.b64decode(body)
    return web.Response(status=status, headers=_response_headers(response),
                        body=body.encode() if isinstance(body, str) else body)


def _response_headers(response: dict[str, Any]) -> dict[str, str]:
    headers = {str(k): str(v) for k, v in (response.get("headers") or {}).items()}
    for key, values in (response.get("multiValueHeaders") or {}).items():
        headers[str(key)] = ", ".join(str(v) for v in values)
    for hop in ("Content-Length", "content-length", "Connection", "connection", "Transfer-Encoding"):
        headers.pop(hop, None)
    return headers
