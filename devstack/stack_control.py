"""Local-stack control (loopback only): stop and start the streaming service while the stack runs, to see
what an outage looks like (the status page's streaming monitor goes down, then recovers).

    POST {control_url}/streaming/stop    -> 204 once the process has exited
    POST {control_url}/streaming/start   -> 204 once it answers /healthz again (on the same port)

``control_url`` is in ``.dev/stack.json``. A development tool: there is nothing like it in a deployment.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StreamingSwitch:
    """Stops and restarts one child streaming process (made by ``start``), one change at a time."""

    def __init__(self, start: Callable[[], Any], process: Any) -> None:
        self._start = start
        self.process = process
        self._lock = threading.Lock()

    def stop(self) -> None:
        with self._lock:
            if self.process is not None:
                self.process.stop(timeout=30)
                self.process = None

    def start(self) -> None:
        with self._lock:
            if self.process is None:
                self.process = self._start()


class StackControl(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, streaming: StreamingSwitch, port: int = 0) -> None:
        self.streaming = streaming
        super().__init__(("127.0.0.1", port), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> StackControl:
        threading.Thread(target=self.serve_forever, name="stack-control", daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: StackControl

    def log_message(self, format: str, *args: Any) -> None:  # the stdlib signature; quiet
        pass

    def do_POST(self) -> None:  # the stdlib's handler name
        actions = {"/streaming/stop": self.server.streaming.stop, "/streaming/start": self.server.streaming.start}
        action = actions.get(self.path)
        if action is None:
            self._answer(404, b'{"error": "not_found", "error_description": "no such control"}')
            return
        try:
            action()
        except Exception as error:  # a start that failed: say so, keep serving
            self._answer(500, b'{"error": "failed", "error_description": "%s"}' % type(error).__name__.encode())
            return
        self._answer(204, b"")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        if body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
