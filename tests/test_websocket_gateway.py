"""The local stand-in for API Gateway WebSocket APIs (``devstack.websocket_gateway``), through real protocols:
WebSocket clients (aiohttp) on one side, a Chalice app's ``@app.on_ws_*`` handlers on the other, and the
management API driven by boto3's own ``apigatewaymanagementapi`` client."""
from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import boto3
import pytest
from chalice import Chalice, Response

from devstack.websocket_gateway import MAX_MESSAGE_BYTES, WebSocketGateway

TIMEOUT_S = 10


class Calls:
    """Every handler invocation (route key, event), in order; waitable from any thread."""

    def __init__(self) -> None:
        self._calls: list[tuple[str, dict[str, Any]]] = []
        self._changed = threading.Condition()

    def add(self, route_key: str, event: dict[str, Any]) -> None:
        with self._changed:
            self._calls.append((route_key, event))
            self._changed.notify_all()

    def of(self, route_key: str) -> list[dict[str, Any]]:
        with self._changed:
            return [event for key, event in self._calls if key == route_key]

    def wait_for(self, route_key: str, count: int = 1) -> list[dict[str, Any]]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.of(route_key)) >= count, timeout=TIMEOUT_S):
                raise AssertionError(f"{route_key} ran {len(self.of(route_key))} times, expected {count}")
        return self.of(route_key)

    async def wait_async(self, route_key: str, count: int = 1) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.wait_for, route_key, count)


def _test_app(calls: Calls, on_message: Callable[[dict[str, Any]], None] | None = None) -> Chalice:
    app = Chalice("ws-gateway-test")

    @app.on_ws_connect()
    def connect(event: Any) -> Any:
        calls.add("$connect", event.to_dict())
        if (event.to_dict().get("queryStringParameters") or {}).get("token") == "forged":
            return Response(status_code=401, body=json.dumps({"error": "unauthorized"}),
                            headers={"Content-Type": "application/json", "X-Refused-By": "test"})
        return None

    @app.on_ws_message()
    def message(event: Any) -> None:
        calls.add("$default", event.to_dict())
        if on_message is not None:
            on_message(event.to_dict())

    @app.on_ws_disconnect()
    def disconnect(event: Any) -> None:
        calls.add("$disconnect", event.to_dict())

    return app


@pytest.fixture()
def calls() -> Calls:
    return Calls()


@pytest.fixture()
def gateway(calls: Calls) -> Iterator[WebSocketGateway]:
    gateway = WebSocketGateway(_test_app(calls)).start()
    yield gateway
    gateway.stop()


def _management(gateway: WebSocketGateway) -> Any:
    return boto3.client("apigatewaymanagementapi", endpoint_url=gateway.management_url, region_name="us-east-1",
                        aws_access_key_id="dummy", aws_secret_access_key="dummy")


async def _receive_close(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    msg = await ws.receive(timeout=TIMEOUT_S)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING), msg
    return ws.close_code


def test_a_refused_connect_answers_its_status_and_runs_no_other_route(gateway: WebSocketGateway,
                                                                      calls: Calls) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(gateway.url + "?token=forged")
            assert refused.value.status == 401
            assert refused.value.headers is not None and refused.value.headers["X-Refused-By"] == "test"
            async with http.get(gateway.url + "?token=forged", headers={
                "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": base64.b64encode(b"0123456789abcdef").decode()}) as plain:
                assert plain.status == 401
                assert await plain.json() == {"error": "unauthorized"}

    asyncio.run(scenario())
    assert len(calls.of("$connect")) == 2
    gateway.stop()  # waits for every connection's handlers: nothing else can still be on its way
    assert calls.of("$default") == [] and calls.of("$disconnect") == []


def test_an_accepted_connect_gets_the_api_gateway_event(gateway: WebSocketGateway, calls: Calls) -> None:
    async def scenario() -> None:
        headers = {"Authorization": "Bearer k1", "X-Mixed-Case": "yes", "User-Agent": "gateway-test/1"}
        async with aiohttp.ClientSession() as http, http.ws_connect(gateway.url + "?token=abc&tag=a&tag=b",
                                                                    headers=headers):
            pass

    asyncio.run(scenario())
    (event,) = calls.wait_for("$connect")
    context = event["requestContext"]
    assert context["routeKey"] == "$connect" and context["eventType"] == "CONNECT"
    assert context["connectionId"].endswith("=") and len(context["connectionId"]) == 16
    assert context["stage"] == gateway.stage and context["apiId"] == gateway.api_id
    assert context["domainName"] == f"127.0.0.1:{gateway.port}"
    assert context["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "gateway-test/1"}
    assert isinstance(context["connectedAt"], int) and context["requestTimeEpoch"] == context["connectedAt"]
    assert context["requestId"]
    assert event["headers"]["Authorization"] == "Bearer k1" and event["headers"]["X-Mixed-Case"] == "yes"
    assert event["multiValueHeaders"]["X-Mixed-Case"] == ["yes"]
    assert event["queryStringParameters"] == {"token": "abc", "tag": "b"}
    assert event["multiValueQueryStringParameters"] == {"token": ["abc"], "tag": ["a", "b"]}
    assert event["isBase64Encoded"] is False
    (disconnect,) = calls.wait_for("$disconnect")
    assert disconnect["requestContext"]["eventType"] == "DISCONNECT"
    assert disconnect["requestContext"]["connectionId"] == context["connectionId"]
    assert disconnect["requestContext"]["disconnectStatusCode"] == 1000


def test_no_query_string_is_null(gateway: WebSocketGateway, calls: Calls) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as http, http.ws_connect(gateway.url):
            pass

    asyncio.run(scenario())
    (event,) = calls.wait_for("$connect")
    assert event["queryStringParameters"] is None and event["multiValueQueryStringParameters"] is None


def test_messages_reach_default_in_order_one_at_a_time(calls: Calls) -> None:
    running = threading.Semaphore(1)
    overlapped: list[str] = []

    def slow_handler(event: dict[str, Any]) -> None:
        if not running.acquire(blocking=False):
            overlapped.append(event["body"])
            return
        try:
            threading.Event().wait(0.01)  # gives a second, concurrent invocation the chance to show up
        finally:
            running.release()

    gateway = WebSocketGateway(_test_app(calls, slow_handler)).start()
    try:
        async def scenario() -> None:
            async with aiohttp.ClientSession() as http, http.ws_connect(gateway.url) as ws:
                for n in range(20):
                    await ws.send_str(json.dumps({"n": n}))
                await ws.send_bytes(b"\x00\x01binary")
                await calls.wait_async("$default", 21)

        asyncio.run(scenario())
    finally:
        gateway.stop()
    messages = calls.of("$default")
    assert [json.loads(m["body"])["n"] for m in messages[:20]] == list(range(20))
    assert overlapped == []
    first = messages[0]["requestContext"]
    assert first["routeKey"] == "$default" and first["eventType"] == "MESSAGE" and first["messageId"]
    assert messages[0]["isBase64Encoded"] is False
    assert messages[20]["isBase64Encoded"] is True and base64.b64decode(messages[20]["body"]) == b"\x00\x01binary"
    assert len({m["requestContext"]["messageId"] for m in messages}) == 21


def test_a_failing_default_handler_sends_api_gateways_error_and_keeps_the_connection(calls: Calls) -> None:
    def fail(event: dict[str, Any]) -> None:
        if event["body"] == "boom":
            raise RuntimeError("handler bug")

    gateway = WebSocketGateway(_test_app(calls, fail)).start()
    try:
        async def scenario() -> None:
            async with aiohttp.ClientSession() as http, http.ws_connect(gateway.url) as ws:
                await ws.send_str("boom")
                error = json.loads(await ws.receive_str(timeout=TIMEOUT_S))
                assert error["message"] == "Internal server error" and error["connectionId"]
                await ws.send_str("fine")
                await calls.wait_async("$default", 2)
                assert not ws.closed

        asyncio.run(scenario())
    finally:
        gateway.stop()


def test_management_api_posts_gets_and_deletes_through_boto3(gateway: WebSocketGateway, calls: Calls) -> None:
    client = _management(gateway)

    async def scenario() -> None:
        async with aiohttp.ClientSession() as http, http.ws_connect(gateway.url,
                                                                    headers={"User-Agent": "watcher/2"}) as ws:
            (connect,) = await calls.wait_async("$connect")
            connection_id = connect["requestContext"]["connectionId"]
            await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id,
                                    Data=json.dumps({"type": "pong"}).encode())
            assert json.loads(await ws.receive_str(timeout=TIMEOUT_S)) == {"type": "pong"}

            info = await asyncio.to_thread(client.get_connection, ConnectionId=connection_id)
            assert info["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "watcher/2"}
            assert info["ConnectedAt"] <= info["LastActiveAt"]
            assert round(info["ConnectedAt"].timestamp() * 1000) == connect["requestContext"]["connectedAt"]

            deleted = await asyncio.to_thread(client.delete_connection, ConnectionId=connection_id)
            assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
            assert await _receive_close(ws) == 1000
            (disconnect,) = await calls.wait_async("$disconnect")
            assert disconnect["requestContext"]["connectionId"] == connection_id

            for call in (lambda: client.post_to_connection(ConnectionId=connection_id, Data=b"late"),
                         lambda: client.get_connection(ConnectionId=connection_id),
                         lambda: client.delete_connection(ConnectionId=connection_id)):
                with pytest.raises(client.exceptions.GoneException):
                    await asyncio.to_thread(call)

    asyncio.run(scenario())
    gateway.stop()
    assert len(calls.of("$disconnect")) == 1


def test_posting_to_an_unknown_connection_raises_gone(gateway: WebSocketGateway) -> None:
    client = _management(gateway)
    with pytest.raises(client.exceptions.GoneException) as gone:
        client.post_to_connection(ConnectionId="AAAAAAAAAAAAAAA=", Data=b"{}")
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410


def test_posting_over_128_kib_raises_payload_too_large(gateway: WebSocketGateway, calls: Calls) -> None:
    client = _management(gateway)

    async def scenario() -> None:
        async with aiohttp.ClientSession() as http, http.ws_connect(gateway.url):
            (connect,) = await calls.wait_async("$connect")
            connection_id = connect["requestContext"]["connectionId"]
            with pytest.raises(client.exceptions.PayloadTooLargeException):
                await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id,
                                        Data=b"x" * (MAX_MESSAGE_BYTES + 1))
            await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id,
                                    Data=b"x" * MAX_MESSAGE_BYTES)

    asyncio.run(scenario())


def test_unsigned_management_requests_are_forbidden(gateway: WebSocketGateway) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as http, http.post(
                f"{gateway.management_url}/@connections/AAAAAAAAAAAAAAA=", data=b"{}") as response:
            assert response.status == 403
            assert response.headers["x-amzn-ErrorType"] == "ForbiddenException"

    asyncio.run(scenario())


def test_a_message_over_128_kib_closes_the_connection_with_1009(gateway: WebSocketGateway, calls: Calls) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as http, http.ws_connect(gateway.url) as ws:
            await ws.send_str("y" * MAX_MESSAGE_BYTES)
            await calls.wait_async("$default")
            await ws.send_str("y" * (MAX_MESSAGE_BYTES + 1))
            assert await _receive_close(ws) == 1009

    asyncio.run(scenario())
    (disconnect,) = calls.wait_for("$disconnect")
    assert disconnect["requestContext"]["disconnectStatusCode"] == 1009
    assert len(calls.of("$default")) == 1


def test_an_idle_connection_closes_and_traffic_keeps_one_open(calls: Calls) -> None:
    gateway = WebSocketGateway(_test_app(calls), idle_timeout_s=1.5).start()
    client = _management(gateway)
    try:
        async def scenario() -> None:
            async with (aiohttp.ClientSession() as http, http.ws_connect(gateway.url) as idle,
                        http.ws_connect(gateway.url) as busy):
                connects = await calls.wait_async("$connect", 2)
                busy_id = connects[1]["requestContext"]["connectionId"]
                closed = asyncio.create_task(_receive_close(idle))
                while not closed.done():  # the busy one talks both ways until the idle one is closed
                    await busy.send_str("ping")
                    await asyncio.to_thread(client.post_to_connection, ConnectionId=busy_id, Data=b"pong")
                    assert await busy.receive_str(timeout=TIMEOUT_S) == "pong"
                    await asyncio.wait({closed}, timeout=0.1)
                assert closed.result() == 1001
                assert not busy.closed
                (disconnect,) = await calls.wait_async("$disconnect")
                assert disconnect["requestContext"]["connectionId"] != busy_id
                assert await _receive_close(busy) == 1001  # and it, too, once quiet

        asyncio.run(scenario())
    finally:
        gateway.stop()


def test_every_connection_closes_at_its_maximum_lifetime(calls: Calls) -> None:
    gateway = WebSocketGateway(_test_app(calls), max_lifetime_s=0.5).start()
    try:
        async def scenario() -> None:
            async with aiohttp.ClientSession() as http, http.ws_connect(gateway.url) as ws:
                closed = asyncio.create_task(_receive_close(ws))
                while not closed.done():
                    await ws.send_str("still here")
                    await asyncio.wait({closed}, timeout=0.05)
                assert closed.result() == 1001

        asyncio.run(scenario())
        calls.wait_for("$disconnect")
    finally:
        gateway.stop()


def test_stop_closes_connections_runs_disconnect_and_releases_the_port_at_once(calls: Calls) -> None:
    from devstack.embedded_aws import port_is_free

    gateway = WebSocketGateway(_test_app(calls)).start()

    async def scenario() -> None:
        async with aiohttp.ClientSession() as http, http.ws_connect(gateway.url) as ws:
            await calls.wait_async("$connect")
            stopping = asyncio.create_task(asyncio.to_thread(gateway.stop))
            assert await _receive_close(ws) == 1001
            await stopping

    asyncio.run(scenario())
    assert len(calls.of("$disconnect")) == 1
    assert port_is_free(gateway.port)  # the connection the gateway closed may sit in TIME-WAIT: a restart binds
    WebSocketGateway(_test_app(calls), port=gateway.port).start().stop()
