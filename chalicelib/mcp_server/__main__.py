"""``python -m chalicelib.mcp_server``: Parley's MCP server over stdio (see ``chalicelib.mcp_server.stdio``)."""
from __future__ import annotations

import sys

from chalicelib.mcp_server.stdio import main

if __name__ == "__main__":
    sys.exit(main())
