"""SafeHttp against real local HTTP servers: pooling, caps, redirects, failures and the SSRF guard.

``Receiver`` (a ThreadingHTTPServer on 127.0.0.1, port 0) is shared with the webhook channel tests.
"""
from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import pytest
import urllib3.util.connection

from chalicelib.delivery.safe_http import MAX_BODY_BYTES, HttpFailure, Refused, SafeHttp, why_not_public

LOCAL = ("127.0.0.0/8",)


@dataclass
class Seen:
    """One request as the receiver got it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Answer:
    status: int = 200
    body: bytes = b'{"ok":true}'
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


Route = Callable[[Seen], Answer]


class Receiver:
    """A local HTTP/1.1 (keep-alive) server recording every request and accepted connection."""

    def __init__(self, route: Route | None = None, tls: ssl.SSLContext | None = None) -> None:
        self.route: Route = route or (lambda seen: Answer())
        self.requests: list[Seen] = []
        self.connections = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms stalls

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                            self.rfile.read(length))
                with receiver._lock:
                    receiver.requests.append(seen)
                answer = receiver.route(seen)
                if answer.delay_s:
                    time.sleep(answer.delay_s)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # clients that hang up early (capped bodies, timeouts) are expected here

            def get_request(self) -> Any:
                accepted = super().get_request()
                with receiver._lock:
                    receiver.connections += 1
                return accepted

        self.server = Server(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture()
def connects(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every address urllib3 opens a socket to (the real connection still happens)."""
    opened: list[tuple[str, int]] = []
    real = urllib3.util.connection.create_connection

    def recording(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        opened.append((address[0], address[1]))
        return real(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", recording)
    return opened


def resolver(table: dict[str, list[str]]) -> Callable[[str, int], list[str]]:
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]
    return resolve


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- ordinary exchanges -------------------------------------------------------------------------------

def test_post_reaches_an_allowed_local_receiver(receiver: Receiver) -> None:
    receiver.route = lambda seen: Answer(201, b"created", {"X-Thing": "a"})
    response = SafeHttp(allowed_networks=LOCAL).request("POST", receiver.url("/hook?x=1"), body=b"hello",
                                                          headers={"X-Custom": "1"})
    assert response.status_code == 201 and response.ok
    assert response.body == b"created" and response.text == "created"
    assert response.headers["x-thing"] == "a"
    assert response.latency_ms > 0 and not response.truncated
    seen = receiver.requests[0]
    assert (seen.method, seen.path, seen.body) == ("POST", "/hook?x=1", b"hello")
    assert seen.headers["x-custom"] == "1"
    assert seen.headers["host"] == f"127.0.0.1:{receiver.port}"


def test_connection_is_pinned_to_the_checked_address_with_the_original_host_header(
        receiver: Receiver, connects: list[tuple[str, int]]) -> None:
    http = SafeHttp(allowed_networks=LOCAL, resolver=resolver({"hooks.example": ["127.0.0.1"]}))
    response = http.request("GET", receiver.url("/", host="hooks.example"))
    assert response.status_code == 200
    assert receiver.requests[0].headers["host"] == f"hooks.example:{receiver.port}"
    assert connects == [("127.0.0.1", receiver.port)]


def test_post_json_sends_compact_json(receiver: Receiver) -> None:
    SafeHttp(allowed_networks=LOCAL).post_json(receiver.url(), {"a": 1, "b": "é"})
    seen = receiver.requests[0]
    assert seen.body == '{"a":1,"b":"é"}'.encode()
    assert seen.headers["content-type"] == "application/json"


def test_connections_are_kept_alive_and_reused(receiver: Receiver) -> None:
    http = SafeHttp(allowed_networks=LOCAL)
    for _ in range(20):
        assert http.request("POST", receiver.url(), body=b"x").status_code == 200
    assert receiver.connections == 1


def test_concurrent_requests_from_many_threads_all_arrive_intact(receiver: Receiver) -> None:
    receiver.route = lambda seen: Answer(200, seen.body)
    http = SafeHttp(allowed_networks=LOCAL)
    errors: list[str] = []

    def worker(n: int) -> None:
        for i in range(20):
            body = f"{n}-{i}".encode()
            response = http.request("POST", receiver.url(), body=body)
            if response.body != body:
                errors.append(f"{body!r} answered {response.body!r}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(receiver.requests) == 200
    assert receiver.connections <= 20  # pooled, not one connection per request


def test_body_is_capped_and_the_connection_stays_usable(receiver: Receiver) -> None:
    big = b"x" * (MAX_BODY_BYTES * 2)
    receiver.route = lambda seen: Answer(200, big if seen.path == "/big" else b"small")
    http = SafeHttp(allowed_networks=LOCAL)
    response = http.request("GET", receiver.url("/big"))
    assert len(response.body) == MAX_BODY_BYTES and response.truncated
    assert http.request("GET", receiver.url("/next")).body == b"small"


def test_error_statuses_are_responses_not_exceptions(receiver: Receiver) -> None:
    receiver.route = lambda seen: Answer(503, b"busy")
    response = SafeHttp(allowed_networks=LOCAL).request("POST", receiver.url(), body=b"{}")
    assert (response.status_code, response.ok, response.body) == (503, False, b"busy")


# -- TLS ------------------------------------------------------------------------------------------

def _self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A certificate for ``name`` (its own CA) and its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture()
def tls_receiver(tmp_path: Path) -> Iterator[tuple[Receiver, str]]:
    cert, key = _self_signed(tmp_path, "hooks.example")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with Receiver(tls=context) as running:
        yield running, str(cert)


def test_https_is_pinned_to_the_address_and_verified_against_the_host_name(
        tls_receiver: tuple[Receiver, str], connects: list[tuple[str, int]]) -> None:
    receiver, ca = tls_receiver
    http = SafeHttp(allowed_networks=LOCAL, ca_certs=ca, resolver=resolver({"hooks.example": ["127.0.0.1"]}))
    response = http.request("POST", receiver.url(host="hooks.example"), body=b"secure")
    assert response.status_code == 200
    assert receiver.requests[0].headers["host"] == f"hooks.example:{receiver.port}"
    assert connects == [("127.0.0.1", receiver.port)]


def test_https_certificate_for_another_name_is_rejected(tls_receiver: tuple[Receiver, str]) -> None:
    receiver, ca = tls_receiver
    http = SafeHttp(allowed_networks=LOCAL, ca_certs=ca, resolver=resolver({"evil.example": ["127.0.0.1"]}))
    with pytest.raises(HttpFailure, match="^tls error"):
        http.request("POST", receiver.url(host="evil.example"), body=b"x")
    assert receiver.requests == []


# -- redirects --------------------------------------------------------------------------------------

def test_redirect_is_followed_with_the_same_method_and_body(receiver: Receiver) -> None:
    receiver.route = lambda seen: (Answer(302, b"", {"Location": "/final"}) if seen.path == "/hook"
                                   else Answer(200, b"landed"))
    response = SafeHttp(allowed_networks=LOCAL).request("POST", receiver.url(), body=b"payload")
    assert response.body == b"landed" and response.url == receiver.url("/final")
    assert [(s.method, s.path, s.body) for s in receiver.requests] == [
        ("POST", "/hook", b"payload"), ("POST", "/final", b"payload")]


def test_cross_origin_redirect_drops_credentials(receiver: Receiver) -> None:
    with Receiver() as other:
        receiver.route = lambda seen: Answer(307, b"", {"Location": other.url("/b", host="other.example")})
        http = SafeHttp(allowed_networks=LOCAL, resolver=resolver({"other.example": ["127.0.0.1"]}))
        http.request("POST", receiver.url(), body=b"x", headers={"Authorization": "Bearer t0ken", "X-Keep": "1"})
        assert receiver.requests[0].headers["authorization"] == "Bearer t0ken"
        forwarded = other.requests[0].headers
        assert "authorization" not in forwarded and forwarded["x-keep"] == "1"
        assert forwarded["host"] == f"other.example:{other.port}"


def test_too_many_redirects_fail(receiver: Receiver) -> None:
    receiver.route = lambda seen: Answer(307, b"", {"Location": "/again"})
    with pytest.raises(HttpFailure, match="too many redirects"):
        SafeHttp(allowed_networks=LOCAL, max_redirects=3).request("POST", receiver.url(), body=b"x")
    assert len(receiver.requests) == 4


# -- failures ---------------------------------------------------------------------------------------

def test_slow_receiver_times_out(receiver: Receiver) -> None:
    receiver.route = lambda seen: Answer(200, b"late", delay_s=1.0)
    with pytest.raises(HttpFailure) as failure:
        SafeHttp(allowed_networks=LOCAL).request("POST", receiver.url(), body=b"x", timeout_s=0.3)
    assert str(failure.value) == "timeout after 0.3 s"


def test_connection_refused() -> None:
    with pytest.raises(HttpFailure) as failure:
        SafeHttp(allowed_networks=LOCAL).request("POST", f"http://127.0.0.1:{free_port()}/x", body=b"x")
    assert str(failure.value) == "connection refused"


def test_unresolvable_host_fails() -> None:
    with pytest.raises(HttpFailure, match="could not resolve nowhere.example"):
        SafeHttp(resolver=resolver({})).request("GET", "http://nowhere.example/")


# -- SSRF guard -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "message"), [
    ("http://10.0.0.1/hook", "refused: 10.0.0.1 is a private address"),
    ("http://169.254.169.254/latest/meta-data/", "refused: 169.254.169.254 is a link-local address"),
    ("http://169.254.170.2/v2/credentials", "refused: 169.254.170.2 is a link-local address"),
    ("http://192.168.1.1/", "refused: 192.168.1.1 is a private address"),
    ("http://172.16.5.4/", "refused: 172.16.5.4 is a private address"),
    ("http://100.64.0.1/", "refused: 100.64.0.1 is a shared address (100.64.0.0/10)"),
    ("http://0.0.0.0/", "refused: 0.0.0.0 is an unspecified address"),
    ("http://224.0.0.1/", "refused: 224.0.0.1 is a multicast address"),
    ("http://240.0.0.1/", "refused: 240.0.0.1 is a reserved address"),
    ("http://[::1]/", "refused: ::1 is a loopback address"),
    ("http://[fd00::1]/", "refused: fd00::1 is a private address"),
    ("http://[fe80::1]/", "refused: fe80::1 is a link-local address"),
    ("http://[::ffff:169.254.169.254]/", "refused: ::ffff:169.254.169.254 is a link-local address"),
    ("http://[::ffff:127.0.0.1]/", "refused: ::ffff:127.0.0.1 is a loopback address"),
    ("https://10.0.0.1/", "refused: 10.0.0.1 is a private address"),
])
def test_non_public_addresses_are_refused_before_connecting(
        url: str, message: str, connects: list[tuple[str, int]]) -> None:
    with pytest.raises(Refused) as refusal:
        SafeHttp().request("POST", url, body=b"x", timeout_s=5)
    assert str(refusal.value) == message
    assert connects == []


def test_loopback_receiver_is_refused_without_allowed_networks(
        receiver: Receiver, connects: list[tuple[str, int]]) -> None:
    with pytest.raises(Refused, match=r"^refused: 127\.0\.0\.1 is a loopback address$"):
        SafeHttp().request("POST", receiver.url(), body=b"x")
    assert connects == [] and receiver.connections == 0 and receiver.requests == []


@pytest.mark.parametrize(("addresses", "message"), [
    (["127.0.0.1"], "refused: 127.0.0.1 is a loopback address"),
    (["10.0.0.1"], "refused: 10.0.0.1 is a private address"),
    (["93.184.216.34", "10.0.0.1"], "refused: 10.0.0.1 is a private address"),  # any address counts
    (["2606:4700::1111", "::ffff:10.1.2.3"], "refused: ::ffff:10.1.2.3 is a private address"),
])
def test_hostnames_are_judged_by_every_address_they_resolve_to(
        addresses: list[str], message: str, receiver: Receiver, connects: list[tuple[str, int]]) -> None:
    http = SafeHttp(resolver=resolver({"hooks.example": addresses}))
    with pytest.raises(Refused) as refusal:
        http.request("POST", receiver.url(host="hooks.example"), body=b"x")
    assert str(refusal.value) == message
    assert connects == [] and receiver.connections == 0


def test_redirect_to_the_metadata_endpoint_is_refused(receiver: Receiver, connects: list[tuple[str, int]]) -> None:
    receiver.route = lambda seen: Answer(307, b"", {"Location": "http://169.254.169.254/latest/meta-data/"})
    http = SafeHttp(allowed_networks=("127.0.0.1/32",), resolver=resolver({"hooks.example": ["127.0.0.1"]}))
    with pytest.raises(Refused) as refusal:
        http.request("POST", receiver.url(host="hooks.example"), body=b"x")
    assert str(refusal.value) == ("refused: redirect to http://169.254.169.254/latest/meta-data/: "
                                  "169.254.169.254 is a link-local address")
    assert len(receiver.requests) == 1
    assert connects == [("127.0.0.1", receiver.port)]


def test_redirect_to_a_hostname_resolving_to_loopback_is_refused(receiver: Receiver) -> None:
    receiver.route = lambda seen: Answer(302, b"", {"Location": "http://internal.example:9/x"})
    http = SafeHttp(allowed_networks=("127.0.0.1/32",),
                    resolver=resolver({"hooks.example": ["127.0.0.1"], "internal.example": ["10.9.8.7"]}))
    with pytest.raises(Refused, match=r"^refused: redirect to http://internal\.example:9/x: 10\.9\.8\.7 is a private"):
        http.request("POST", receiver.url(host="hooks.example"), body=b"x")


def test_allowed_networks_are_exact() -> None:
    http = SafeHttp(allowed_networks=("127.0.0.1/32",))
    with pytest.raises(Refused, match="127.0.0.2 is a loopback address"):
        http.request("GET", "http://127.0.0.2:9/")


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://example.com/",
                                 "//example.com/x", "http:///nohost"])
def test_only_http_and_https_urls_are_allowed(url: str, connects: list[tuple[str, int]]) -> None:
    with pytest.raises(Refused):
        SafeHttp().request("GET", url)
    assert connects == []


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert why_not_public(ipaddress.ip_address(address)) is None
