"""The streamable HTTP transport: stateless, JSON responses, at ``/api/v1/mcp``, behind the bearer-key check.

Stateless because each request may land on another Lambda; JSON responses (no SSE stream) because API Gateway
and Lambda return one response body. DNS-rebinding protection stays on: only the API's own host(s) (from
``PARLEY_PUBLIC_API_URL`` plus ``PARLEY_MCP_ALLOWED_HOSTS``) and their origins are accepted.
"""
from __future__ import annotations

import os
from urllib.parse import urlsplit

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

from chalicelib.config import Settings
from chalicelib.mcp_server.account import current_account
from chalicelib.mcp_server.auth import BearerAccount
from chalicelib.mcp_server.domain_backend import DomainBackend
from chalicelib.mcp_server.server import build_server

MCP_PATH = "/api/v1/mcp"
ENVELOPE_BYTES = 16 * 1024
"""Room for the JSON-RPC envelope around a tool's arguments, on top of the REST API's body limit."""


def transport_security(urls: list[str], extra_hosts: list[str] | None = None) -> TransportSecuritySettings:
    """Accept requests whose Host is one of the URLs' (or ``extra_hosts``) and whose Origin, if any, matches."""
    hosts: list[str] = []
    origins: list[str] = []
    for url in urls:
        parts = urlsplit(url)
        if parts.netloc:
            hosts.append(parts.netloc)
            origins.append(f"{parts.scheme}://{parts.netloc}")
    for host in extra_hosts or []:
        hosts.append(host)
        origins.append(f"https://{host}")
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts,
                                     allowed_origins=origins)


def transport_security_from_env() -> TransportSecuritySettings:
    public = os.environ.get("PARLEY_PUBLIC_API_URL", "")
    extra = [h.strip() for h in os.environ.get("PARLEY_MCP_ALLOWED_HOSTS", "").split(",") if h.strip()]
    return transport_security([public] if public else [], extra)


def domain_server() -> MCPServer:
    """The server whose tools act for the request's account through the domain."""
    return build_server(lambda: DomainBackend(current_account()))


def http_app(server: MCPServer, security: TransportSecuritySettings) -> BearerAccount:
    """A new ASGI app serving ``server``. Its lifespan runs the SDK's session manager, which starts only once:
    build one app per lifespan (per Lambda invocation under Mangum)."""
    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH, stateless_http=True, json_response=True, transport_security=security,
        max_request_body_size=Settings.from_env().max_body_bytes + ENVELOPE_BYTES,
    )
    return BearerAccount(app)
