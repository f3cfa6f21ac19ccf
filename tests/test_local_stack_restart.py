"""Stopping the local stack and starting it again at once works: the ports its own servers leave in TIME-WAIT
count as free, and its servers bind them again."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice import Chalice

from devstack.api_gateway import ApiGatewayServer
from devstack.embedded_aws import port_is_free
from devstack.keepalive_server import KeepAliveWsgiServer

TCP_TABLE = Path("/proc/net/tcp")
TIME_WAIT = "06"


def _wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"ok"


def _in_time_wait(port: int) -> bool:
    for line in TCP_TABLE.read_text().splitlines()[1:]:
        local, _, state = line.split()[1:4]
        if local.endswith(f":{port:04X}") and state == TIME_WAIT:
            return True
    return False


def _serve_one_request_and_stop() -> int:
    """The embedded AWS's server answers one request and closes the connection first (so its side of the
    connection waits in TIME-WAIT), then stops, as ``make dev`` does on Ctrl-C. Returns its port."""
    server = KeepAliveWsgiServer(("127.0.0.1", 0), _wsgi_app)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        while client.recv(4096):
            pass
    server.shutdown()
    server.server_close()
    thread.join()
    return port


@pytest.fixture()
def port_in_time_wait() -> int:
    if not TCP_TABLE.exists():
        pytest.skip("needs Linux's /proc/net/tcp to see TIME-WAIT")
    port = _serve_one_request_and_stop()
    deadline = time.monotonic() + 5
    while not _in_time_wait(port):
        assert time.monotonic() < deadline, f"port {port} never reached TIME-WAIT"
        time.sleep(0.01)
    return port


def test_a_port_in_time_wait_counts_as_free(port_in_time_wait: int) -> None:
    assert port_is_free(port_in_time_wait)


def test_the_stacks_servers_bind_a_port_in_time_wait(port_in_time_wait: int) -> None:
    aws = KeepAliveWsgiServer(("127.0.0.1", port_in_time_wait), _wsgi_app)
    aws.server_close()
    api = ApiGatewayServer(Chalice(app_name="probe"), port=port_in_time_wait)
    api.server_close()


def test_a_listening_port_is_not_free() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert not port_is_free(listener.getsockname()[1])
