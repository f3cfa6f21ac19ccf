"""The stdio transport, for desktop assistants: the same tools, calling Parley's REST API with your key.

``PARLEY_API_KEY`` is your API key; ``PARLEY_API_URL`` the API's base URL (``https://<api domain>/api/v1``;
the local stack's ``api_url``). Nothing here needs AWS credentials.
"""
from __future__ import annotations

import os
import sys

from mcp.server.mcpserver import MCPServer

from chalicelib.mcp_server.rest_backend import RestBackend
from chalicelib.mcp_server.server import build_server

USAGE = "set PARLEY_API_KEY (your Parley API key) and PARLEY_API_URL (e.g. https://api.example.com/api/v1)"


def rest_server(api_url: str, api_key: str) -> MCPServer:
    backend = RestBackend(api_url, api_key)
    return build_server(lambda: backend)


def main() -> int:
    api_key = os.environ.get("PARLEY_API_KEY", "").strip()
    api_url = os.environ.get("PARLEY_API_URL", "").strip()
    if not api_key or not api_url:
        print(f"parley mcp: {USAGE}", file=sys.stderr)
        return 2
    rest_server(api_url, api_key).run("stdio")
    return 0
