"""``python -m streaming --host 0.0.0.0 --port 8080``: the streaming service."""
from __future__ import annotations

import argparse
import asyncio
import logging

from streaming.server import create_app, serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m streaming")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8700)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:  # uvloop: a faster event loop (libuv), worth ~2x on the per-frame WebSocket path
        import uvloop
    except ImportError:
        asyncio.run(serve(create_app(), args.host, args.port))
    else:
        uvloop.run(serve(create_app(), args.host, args.port))


if __name__ == "__main__":
    main()
