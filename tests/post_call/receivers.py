"""A local webhook receiver for delivery tests: records what arrives and answers as scripted."""
from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


# An answer: (status code, seconds to wait before answering). A wait past the sender's timeout is a timeout.
Behaviour = Callable[["Receiver", Received], tuple[int, float]]


@dataclass
class Receiver:
    behaviour: Behaviour = lambda receiver, request: (200, 0.0)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    redirect_to: str | None = None  # the Location of 3xx answers

    def by_webhook_id(self) -> dict[str, list[Received]]:
        grouped: dict[str, list[Received]] = {}
        with self.lock:
            for request in self.received:
                grouped.setdefault(request.headers.get("webhook-id", ""), []).append(request)
        return grouped


def always(status: int) -> Behaviour:
    return lambda receiver, request: (status, 0.0)


def flaky(failure_rate: float, timeout_wait_s: float, seed: int = 7) -> Behaviour:
    """Fails ``failure_rate`` of requests at random: half with a 500, half by answering too late."""
    rng = random.Random(seed)
    lock = threading.Lock()

    def answer(receiver: Receiver, request: Received) -> tuple[int, float]:
        with lock:
            roll = rng.random()
        if roll < failure_rate / 2:
            return 500, 0.0
        if roll < failure_rate:
            return 200, timeout_wait_s  # processed, but the sender gave up waiting: it will send again
        return 200, 0.0

    return answer


@contextmanager
def serve(receiver: Receiver) -> Iterator[Receiver]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms delayed-ACK stall

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if len(body) < length:
                return  # the sender gave up (its timeout) between the headers and the body: nothing was delivered
            request = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            with receiver.lock:
                receiver.received.append(request)
            status, wait = receiver.behaviour(receiver, request)
            if wait:
                time.sleep(wait)
            payload = b"{}"
            try:
                self.send_response(status)
                if 300 <= status < 400 and receiver.redirect_to:
                    self.send_header("Location", receiver.redirect_to)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the sender hung up (timeout)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
