"""The stdio server (``python -m chalicelib.mcp_server``) started by the MCP SDK's client, as a desktop
assistant starts it: only PARLEY_API_URL and PARLEY_API_KEY (and no AWS credentials) in its environment."""
from __future__ import annotations

import sys
from pathlib import Path

from mcp import Client, StdioServerParameters

ROOT = Path(__file__).resolve().parents[2]


def stdio_client(api_url: str, api_key: str) -> Client:
    return Client(StdioServerParameters(
        command=sys.executable, args=["-m", "chalicelib.mcp_server"], cwd=ROOT,
        env={"PARLEY_API_URL": api_url, "PARLEY_API_KEY": api_key}), read_timeout_seconds=60)
