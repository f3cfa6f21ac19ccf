"""Serves the embedded AWS (moto's WSGI app) over HTTP/1.1 with keep-alive.

werkzeug's development server, which ``moto_server`` runs, answers every request with
``Connection: close``: every AWS call of the local stack then opened a TCP connection and the server a
thread, which was ~40% of the local stack's CPU under load. This server keeps connections open.
The environ is moto's own (``MotoRequestHandler.make_environ``); each request body is read whole
before the app runs, so a connection is always at a request boundary when the next request comes.
"""
from __future__ import annotations

import io
import sys
import traceback
from http.server import ThreadingHTTPServer
from typing import Any

from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.http import parse_set_header

IDLE_TIMEOUT_S = 300  # an idle keep-alive connection is closed after this


class KeepAliveWsgiHandler(MotoRequestHandler):
    protocol_version = "HTTP/1.1"  # also answers "Expect: 100-continue" (BaseHTTPRequestHandler)
    timeout = IDLE_TIMEOUT_S
    disable_nagle_algorithm = True

    def run_wsgi(self) -> None:
        environ = self.make_environ()
        chunked = "chunked" in parse_set_header(environ.get("HTTP_TRANSFER_ENCODING"))
        body = environ["wsgi.input"].read() if chunked else self.rfile.read(int(environ.get("CONTENT_LENGTH") or 0))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ.pop("wsgi.input_terminated", None)
        environ.update({"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))})
        try:
            status, headers, payload = self._call_app(environ)
        except Exception:  # the app's bug becomes a 500, as werkzeug's server does
            traceback.print_exc(file=sys.stderr)
            status, headers, payload = "500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")], b"internal error"
            self.close_connection = True
        code_text, _, reason = status.partition(" ")
        code = int(code_text)
        has_body = code >= 200 and code not in (204, 304)
        self.send_response(code, reason)
        declared_length = None
        for key, value in headers:
            name = key.lower()
            if name == "content-length":
                declared_length = value
            elif name not in ("connection", "transfer-encoding"):
                self.send_header(key, value)
        if self.command == "HEAD" and declared_length is not None:
            self.send_header("Content-Length", declared_length)  # the size of what a GET would return
        elif has_body:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if has_body and self.command != "HEAD":
            self.wfile.write(payload)

    def _call_app(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        started: list[Any] = []
        written: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if exc_info is not None and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [status, headers]
            return written.append

        result = self.server.app(environ, start_response)
        try:
            written.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = started
        return status, headers, b"".join(written)

    def log(self, type: str, message: str, *args: Any) -> None:  # werkzeug's signature
        """No line per request, nor per idle connection timing out (app errors print their traceback)."""
        return


class KeepAliveWsgiServer(ThreadingHTTPServer):
    """What ``MotoRequestHandler`` expects of werkzeug's server, plus the app."""

    daemon_threads = True
    allow_reuse_address = True  # a restart binds while the last run's connections sit in TIME-WAIT
    multithread, multiprocess, ssl_context, passthrough_errors = True, False, None, False

    def __init__(self, address: tuple[str, int], app: Any) -> None:
        super().__init__(address, KeepAliveWsgiHandler)
        self.app = app

    def log(self, type: str, message: str, *args: Any) -> None:  # werkzeug's signature
        return
