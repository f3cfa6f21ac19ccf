"""Serves the Chalice app over HTTP the way API Gateway would, in-process.

``chalice.local.LocalGateway`` does the routing and runs the built-in authorizer; this module adds
what API Gateway's GatewayResponses do in our deployment (see ``infra/``): gateway-level errors
(missing route, missing or rejected key) come back in Parley's JSON error shape. Routes with a Lambda of their
own (the MCP server at ``/api/v1/mcp``) are invoked through ``devstack.lambda_proxy``, as API Gateway would.
"""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chalice.config import Config
from chalice.local import ForbiddenError, LocalGateway, LocalGatewayException, NotAuthorizedError

from chalicelib.api.gateway_errors import gateway_error
from chalicelib.observability import logger
from devstack import lambda_proxy


class ApiGatewayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ApiGatewayServer

    def log_message(self, format: str, *args: Any) -> None:  # the stdlib signature
        return

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, out_headers, out_body = self.server.dispatch(self.command, self.path, headers, body)
        self.send_response(status)
        for key, value in out_headers.items():
            if key.lower() not in ("content-length", "connection"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(out_body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out_body)

    def __getattr__(self, name: str) -> Any:
        # Every HTTP method reaches the gateway (which answers 405 for ones a route lacks),
        # instead of http.server's HTML 501.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)


def serve_requests_concurrently(app: Any) -> None:
    """Let ``app`` serve requests from several threads at once, as several Lambda containers would.

    A Chalice app keeps the request being served (``current_request``, ``lambda_context``) on the app
    object, where one container serving one request at a time keeps it; here each thread keeps its own.
    """
    if getattr(type(app), "per_thread_requests", False):
        return
    local = threading.local()

    def per_thread(name: str) -> property:
        return property(lambda _self: getattr(local, name, None), lambda _self, value: setattr(local, name, value))

    app.__class__ = type(f"PerThread{type(app).__name__}", (type(app),), {
        "per_thread_requests": True,
        "current_request": per_thread("current_request"),
        "lambda_context": per_thread("lambda_context"),
    })


class ApiGatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # a restart binds while the last run's connections sit in TIME-WAIT

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, concurrency: int = 4) -> None:
        super().__init__((host, port), ApiGatewayHandler)
        serve_requests_concurrently(app)
        self._gateway = LocalGateway(app, Config())
        # Lambda runs concurrent requests in separate containers; ``concurrency`` of them here, so a slow
        # request (a 1,000-contact campaign) does not hold up the carrier's status callbacks.
        self._containers = threading.BoundedSemaphore(concurrency)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{port}"

    def dispatch(self, method: str, path: str, headers: dict[str, str],
                 body: bytes) -> tuple[int, dict[str, str], bytes]:
        own_lambda = lambda_proxy.handler_for(path)
        if own_lambda is not None:  # a route with its own Lambda (the MCP server), not the Chalice app's
            try:
                with self._containers:
                    return lambda_proxy.invoke(own_lambda, method, path, headers, body)
            except Exception:  # a Lambda that fails is API Gateway's 502/5xx
                logger.exception("lambda failure")
                return (*_error("DEFAULT_5XX"),)
        try:
            with self._containers:
                response = self._gateway.handle_request(method=method, path=path, headers=headers, body=body)
        except NotAuthorizedError:
            return (*_error("UNAUTHORIZED"),)
        except ForbiddenError as error:
            body = error.body or b""
            missing_route = b"Missing Authentication Token" in body or b"Credential" in body
            return (*_error("MISSING_AUTHENTICATION_TOKEN" if missing_route else "ACCESS_DENIED"),)
        except LocalGatewayException:
            return (*_error("DEFAULT_5XX"),)
        except Exception as error:  # an authorizer raising "Unauthorized" means 401 in API Gateway
            if str(error) == "Unauthorized":
                return (*_error("UNAUTHORIZED"),)
            logger.exception("gateway failure")
            return (*_error("DEFAULT_5XX"),)
        raw = response.get("body") or b""
        if isinstance(raw, str):
            raw = raw.encode()
        out_headers = dict(response.get("headers") or {})
        for key, values in (response.get("multiValueHeaders") or {}).items():
            out_headers[key] = ", ".join(values)
        return response["statusCode"], out_headers, raw

    def serve_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="api-gateway", daemon=True)
        thread.start()
        return thread


def _error(kind: str) -> tuple[int, dict[str, str], bytes]:
    status, body = gateway_error(kind)
    return status or 400, {"Content-Type": "application/json"}, body
