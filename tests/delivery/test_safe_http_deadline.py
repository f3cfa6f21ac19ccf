"""One deadline per request: a receiver that drips its answer a byte at a time cannot hold a request past it.

Each drip keeps every single socket read well inside its timeout, which is how a 3 s request was held for
20 s before. The assertions on elapsed time are correctness bounds with generous slack (the deadline plus
2 s), not speed targets.
"""
from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.delivery.safe_http import HttpFailure, SafeHttp
from tests.delivery.test_safe_http import Receiver, _self_signed, resolver

LOCAL = ("127.0.0.0/8",)
HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 40\r\n\r\n"
SLACK_S = 2.0  # how far past its deadline a request may end (a bound, not a target)


class Dripper:
    """A TCP server answering every request with ``prefix`` at once, then ``answer`` one byte every
    ``every_s`` seconds."""

    def __init__(self, answer: bytes, every_s: float = 0.5, tls: ssl.SSLContext | None = None,
                 prefix: bytes = b"") -> None:
        self.answer, self.every_s, self.tls, self.prefix = answer, every_s, tls, prefix
        self.connections = 0
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, host: str = "127.0.0.1") -> str:
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}/hook"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            received = b""
            while b"\r\n\r\n" not in received:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                received += chunk
            conn.sendall(self.prefix)
            for byte in self.answer:
                if self._stop.wait(self.every_s):
                    return
                conn.sendall(bytes([byte]))
        except OSError:
            pass  # the client hung up: what a deadline does
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()


@pytest.fixture()
def dripper() -> Iterator[Dripper]:
    server = Dripper(HEADERS + b"x" * 40)  # 40 s of headers and body at two bytes a second
    yield server
    server.close()


def _timed_request(http: SafeHttp, url: str, timeout_s: float) -> tuple[HttpFailure, float]:
    started = time.monotonic()
    with pytest.raises(HttpFailure) as failure:
        http.request("POST", url, body=b"{}", timeout_s=timeout_s)
    return failure.value, time.monotonic() - started


def test_a_receiver_dripping_its_body_is_cut_off_at_the_deadline() -> None:
    body_dripper = Dripper(b"x" * 40, prefix=HEADERS)  # the headers at once, then the body a byte at a time
    try:
        failure, elapsed = _timed_request(SafeHttp(allowed_networks=LOCAL), body_dripper.url(), 3.0)
    finally:
        body_dripper.close()
    assert str(failure) == "timeout after 3.0 s"
    assert elapsed < 3.0 + SLACK_S


def test_a_receiver_dripping_its_status_line_and_headers_is_cut_off_at_the_deadline(dripper: Dripper) -> None:
    failure, elapsed = _timed_request(SafeHttp(allowed_networks=LOCAL), dripper.url(), 3.0)
    assert str(failure) == "timeout after 3.0 s"
    assert elapsed < 3.0 + SLACK_S


def test_the_deadline_covers_every_redirect_hop_together(dripper: Dripper) -> None:
    with Receiver(lambda seen: _redirect(dripper.url())) as receiver:
        failure, elapsed = _timed_request(SafeHttp(allowed_networks=LOCAL), receiver.url(), 2.0)
    assert str(failure) == "timeout after 2.0 s"
    assert elapsed < 2.0 + SLACK_S


def test_a_tls_receiver_dripping_its_answer_is_cut_off_at_the_deadline(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path, "hooks.example")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = Dripper(HEADERS + b"x" * 40, tls=context)
    try:
        http = SafeHttp(allowed_networks=LOCAL, ca_certs=str(cert), resolver=resolver({"hooks.example": ["127.0.0.1"]}))
        failure, elapsed = _timed_request(http, server.url(host="hooks.example"), 2.0)
    finally:
        server.close()
    assert str(failure) == "timeout after 2.0 s"
    assert elapsed < 2.0 + SLACK_S


def test_a_connection_cut_at_its_deadline_is_not_reused_and_the_client_keeps_working(dripper: Dripper) -> None:
    http = SafeHttp(allowed_networks=LOCAL)
    _timed_request(http, dripper.url(), 1.0)
    with Receiver() as receiver:
        for _ in range(3):
            assert http.request("POST", receiver.url(), body=b"{}", timeout_s=2.0).status_code == 200
        assert receiver.connections == 1  # keep-alive still works after a cut-off exchange
    failure, _ = _timed_request(http, dripper.url(), 1.0)  # a new exchange gets its own deadline
    assert str(failure) == "timeout after 1.0 s" and dripper.connections == 2


def test_answers_inside_the_deadline_are_read_whole() -> None:
    quick = Dripper(b"", prefix=HEADERS + b"y" * 40)
    try:
        response = SafeHttp(allowed_networks=LOCAL).request("POST", quick.url(), body=b"{}", timeout_s=5.0)
    finally:
        quick.close()
    assert response.status_code == 200 and response.body == b"y" * 40


def _redirect(location: str):
    from tests.delivery.test_safe_http import Answer

    return Answer(307, b"", {"Location": location})

