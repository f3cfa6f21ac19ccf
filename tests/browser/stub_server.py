"""A tiny HTTP server on 127.0.0.1 for the widget's browser tests: the real web assets plus stub API answers.

It serves ``/widget.js`` and ``/web-demo`` from ``chalicelib/web_assets`` (as the API does), the loopback
agent page (``/loopback-agent.html``, see ``loopback_agent.html``) and ``POST /api/v1/web-calls``, whose
answer is chosen by the public key the widget sends, one key per case of docs/web-calls.md:

    pub_ok        201, offer_url -> /web/offer (a test answers it, see test_widget_in_call.py)
    pub_expired   201, offer_url -> /web/offer-expired: 401 invalid_token
    pub_slow      201, offer_url -> /web/offer-slow: answers only when the test releases it
    pub_origin    403 origin_not_allowed      pub_disabled  403 widget_disabled
    pub_busy      503 busy (Retry-After: 7)   pub_limited   429 rate limited (Retry-After: 3)
    anything else 401 unauthorized

Every request is recorded (method, path, headers, JSON body) for the tests to check what the page sent.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
WEB_ASSETS = ROOT / "chalicelib" / "web_assets"
PAGES = {
    "/widget.js": (WEB_ASSETS / "widget.js", "text/javascript; charset=utf-8"),
    "/web-demo": (WEB_ASSETS / "demo.html", "text/html; charset=utf-8"),
    "/loopback-agent.html": (Path(__file__).with_name("loopback_agent.html"), "text/html; charset=utf-8"),
}


def _error(status: int, error: str, description: str, **headers: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    return status, {"error": error, "error_description": description}, headers


REFUSALS = {
    "pub_origin": _error(403, "origin_not_allowed", "this origin may not start calls with this agent"),
    "pub_disabled": _error(403, "widget_disabled", "the web widget of this agent is disabled"),
    "pub_busy": _error(503, "busy", "no capacity for another call", **{"Retry-After": "7"}),
    "pub_limited": _error(429, "rate_limited", "too many calls", **{"Retry-After": "3"}),
}
OFFER_PATHS = {"pub_ok": "/web/offer", "pub_expired": "/web/offer-expired", "pub_slow": "/web/offer-slow"}


@dataclass
class StubServer:
    """The running server: ``base`` (``http://127.0.0.1:<port>``), ``requests`` seen, ``release_slow_offer``."""

    base: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    release_slow_offer: threading.Event = field(default_factory=threading.Event)

    def seen(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].split("?")[0] == path]


def _handler(stub: StubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet: the tests assert on stub.requests
            pass

        def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, data: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(data).encode(), "application/json", headers)

        def do_GET(self) -> None:
            stub.requests.append({"method": "GET", "path": self.path, "headers": dict(self.headers), "body": None})
            page = PAGES.get(self.path.split("?")[0])
            if page is None:
                self._json(404, {"error": "not_found", "error_description": self.path})
            else:
                self._send(200, page[0].read_bytes(), page[1])

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                body = None
            stub.requests.append({"method": "POST", "path": self.path, "headers": dict(self.headers), "body": body})
            path = self.path.split("?")[0]
            if path == "/api/v1/web-calls":
                self._web_call(self.headers.get("Authorization", "").removeprefix("Bearer "))
            elif path == "/web/offer-expired":
                self._json(401, {"error": "invalid_token", "error_description": "the token was already used"})
            elif path == "/web/offer-slow":
                stub.release_slow_offer.wait(30)
                self._json(503, {"error": "busy", "error_description": "draining"}, {"Retry-After": "1"})
            else:
                self._json(404, {"error": "not_found", "error_description": path})

        def _web_call(self, key: str) -> None:
            if key in REFUSALS:
                status, data, headers = REFUSALS[key]
                self._json(status, data, headers)
            elif key in OFFER_PATHS:
                self._json(201, {"call_id": 345, "token": f"tok-{key}", "expires_at": "2099-01-01T00:00:00Z",
                                 "offer_url": stub.base + OFFER_PATHS[key], "ice_servers": []})
            else:
                self._json(401, {"error": "unauthorized", "error_description": "unknown key"})

    return Handler


def start_stub_server() -> tuple[StubServer, ThreadingHTTPServer]:
    """Start the server on a free port of 127.0.0.1 in a daemon thread; ``server.shutdown()`` stops it."""
    stub = StubServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    server.daemon_threads = True
    stub.base = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, name="widget-stub-server", daemon=True).start()
    return stub, server
