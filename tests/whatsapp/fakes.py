"""Stand-ins on 127.0.0.1 for the Graph API's calling endpoints and the streaming service's ``/whatsapp``
endpoints, speaking their wire formats over real HTTP and recording every request they get."""
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from chalicelib.telephony import stream_tokens


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


Reply = tuple[int, Any]


class FakeServer:
    """An HTTP server whose answers come from ``route(seen) -> (status, json)``."""

    def __init__(self, route: Callable[[Seen], Reply]) -> None:
        self.requests: list[Seen] = []
        self._route = route
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # the stdlib signature
                return

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                seen = Seen(self.command, parts.path, dict(parse_qsl(parts.query)),
                            {k.lower(): v for k, v in self.headers.items()}, json.loads(raw) if raw else None)
                owner.requests.append(seen)
                status, body = owner._route(seen)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FakeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class GraphRules:
    permission: str = "granted"
    can_start_call: bool = True
    wacid: str = "wacid.BUSINESS1"
    refuse: dict[str, Reply] = field(default_factory=dict)
    """Action (``accept``, ``connect``...) or ``call_permissions`` -> the error answer Graph gives."""


def graph_error(message: str, code: int = 100, status: int = 400) -> Reply:
    return status, {"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "A1"}}


class FakeGraph(FakeServer):
    def __init__(self) -> None:
        self.rules = GraphRules()
        super().__init__(self._answer)

    def _answer(self, seen: Seen) -> Reply:
        if seen.path.endswith("/call_permissions"):
            if "call_permissions" in self.rules.refuse:
                return self.rules.refuse["call_permissions"]
            return 200, {"messaging_product": "whatsapp", "permission": {"status": self.rules.permission},
                         "actions": [{"action_name": "send_call_permission_request", "can_perform_action": True},
                                     {"action_name": "start_call", "can_perform_action": self.rules.can_start_call}]}
        action = (seen.body or {}).get("action")
        if action in self.rules.refuse:
            return self.rules.refuse[action]
        if action == "connect":
            return 200, {"messaging_product": "whatsapp", "calls": [{"id": self.rules.wacid}]}
        return 200, {"messaging_product": "whatsapp", "success": True}

    def actions(self) -> list[str]:
        return [r.body["action"] if r.body else r.path.rsplit("/", 1)[-1] for r in self.requests]


class FakeMedia(FakeServer):
    """The streaming service's ``/whatsapp/answer`` and ``/whatsapp/offer``: checks the stream token."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.refuse: Reply | None = None
        super().__init__(self._answer)

    def _answer(self, seen: Seen) -> Reply:
        body = seen.body or {}
        if stream_tokens.verify(self.secret, str(body.get("token", "")), body.get("call_id")) is None:
            return 401, {"error": "invalid_token", "error_description": "stream token missing or invalid"}
        if self.refuse is not None:
            return self.refuse
        if seen.path == "/whatsapp/answer":
            return 200, {"type": "answer", "sdp": f"v=0\r\no=answer {body['call_id']}\r\n"}
        if seen.path == "/whatsapp/offer":
            return 200, {"type": "offer", "sdp": f"v=0\r\no=offer {body['call_id']}\r\n"}
        return 404, {"error": "not_found", "error_description": seen.path}
