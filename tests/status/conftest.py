"""Helpers of the service status tests: a clean cache and probe key per test, the schema, a tiny health server."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

SCHEMA_PATH = Path(__file__).with_name("uptime_kuma_heartbeat.schema.json")


@pytest.fixture(autouse=True)
def fresh_status_state() -> Iterator[None]:
    from chalicelib.status import credentials, page

    page.clear_cache()
    credentials.reset()
    yield
    page.clear_cache()
    credentials.reset()


def validate_heartbeat(body: Any) -> None:
    import jsonschema

    jsonschema.validate(body, json.loads(SCHEMA_PATH.read_text()))


class HealthServer(ThreadingHTTPServer):
    """Answers every GET with ``status`` (changeable while it runs)."""

    daemon_threads = True

    def __init__(self, status: int = 200) -> None:
        self.status = status
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # the stdlib signature; quiet
                pass

            def do_GET(self) -> None:  # the stdlib's handler name
                self.send_response(server.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture()
def health_server() -> Iterator[HealthServer]:
    server = HealthServer()
    yield server
    server.shutdown()
    server.server_close()
