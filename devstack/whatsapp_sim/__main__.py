"""``python -m devstack.whatsapp_sim``: run the WhatsApp Cloud API simulator as its own process (what ``make dev``
starts). Prints one JSON line once serving; runs until SIGINT or SIGTERM."""
from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from collections.abc import Sequence

from devstack.whatsapp_sim.server import SimServer
from devstack.whatsapp_sim.simulator import SimConfig
from devstack.whatsapp_sim.webhooks import RetryPolicy


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devstack.whatsapp_sim",
                                     description="Run the WhatsApp Cloud API simulator (Graph calling API + "
                                                 "calls webhooks + a WebRTC WhatsApp user).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--voice-engine", choices=("piper", "tone"), default="piper",
                        help="how the simulated user's sentences are synthesized (tone: a speech-like buzz)")
    parser.add_argument("--ring-timeout", type=float, default=60.0, help="seconds before an unanswered call fails")
    parser.add_argument("--webhook-attempts", type=int, default=4)
    parser.add_argument("--webhook-backoff", type=float, default=0.5, help="first retry delay, doubled each time")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = SimConfig(ring_timeout_s=args.ring_timeout, voice_engine=args.voice_engine,
                       retry=RetryPolicy(attempts=args.webhook_attempts, first_backoff_s=args.webhook_backoff))
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server = SimServer(config, host=args.host, port=args.port).start()
    print(json.dumps({"whatsapp_sim": server.url}), flush=True)
    try:
        stop.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
