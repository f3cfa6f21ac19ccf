"""``python -m devstack`` (``make dev``): the whole local stack on 127.0.0.1.

Starts the embedded AWS (moto server), creates the tables and queues from the same definitions
infra/ deploys, starts the carrier simulator (Twilio's REST API and signed status callbacks) and the WhatsApp Cloud
API simulator (Graph calling API, signed ``calls`` webhooks, a WebRTC WhatsApp user: ``devstack/whatsapp_sim``),
creates a development account and key, serves the API and the monitoring WebSocket API (a local stand-in
for API Gateway WebSocket APIs), serves a SearXNG stand-in for agents' web searches (a test double over a small
corpus: ``devstack/search_standin.py``), runs the local stand-in for Lambda's event sources (SQS consumers,
schedules), writes ``.dev/stack.json`` and runs until Ctrl-C, which stops
everything it started. Nothing persists between runs.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
import threading
from pathlib import Path

from devstack.embedded_aws import (
    LOCAL_CREDENTIALS,
    CarrierProcess,
    EmbeddedAws,
    StreamingProcess,
    WhatsAppSimProcess,
    port_is_free,
)

STATE_DIR = Path(".dev")


def _voice_enabled() -> bool:
    """``PARLEY_DEV_VOICE=0`` runs the stack without the streaming service (calls ring, answer, hang up)."""
    return os.environ.get("PARLEY_DEV_VOICE", "1") != "0"


def _configure_environment(aws: EmbeddedAws, api_url: str, carrier_url: str, streaming_port: int,
                           monitor_port: int, search_url: str, whatsapp_sim: WhatsAppSimProcess) -> None:
    os.environ.update(LOCAL_CREDENTIALS)
    os.environ["AWS_ENDPOINT_URL"] = aws.endpoint_url
    os.environ.setdefault("PARLEY_TABLE_PREFIX", "parley-local")
    # The carrier: the simulator unless PARLEY_TWILIO_API_URL points elsewhere (e.g. the real Twilio).
    os.environ.setdefault("PARLEY_TWILIO_API_URL", carrier_url)
    os.environ["PARLEY_PUBLIC_API_URL"] = api_url
    os.environ.setdefault("PARLEY_STREAMING_URL", f"ws://127.0.0.1:{streaming_port}/twilio")
    os.environ.setdefault("PARLEY_WEB_OFFER_URL", f"http://127.0.0.1:{streaming_port}/web/offer")
    # WhatsApp: Graph API calls (calling and post-call messages) go to the simulator unless PARLEY_GRAPH_API_URL
    # points elsewhere (the real https://graph.facebook.com/v21.0); the API asks the streaming service for media.
    os.environ.setdefault("PARLEY_GRAPH_API_URL", whatsapp_sim.graph_api_url)
    os.environ.setdefault("PARLEY_WHATSAPP_MEDIA_URL", f"http://127.0.0.1:{streaming_port}/whatsapp")
    # Live monitoring: what clients connect to, and the management API (post_to_connection) behind it.
    os.environ.setdefault("PARLEY_MONITOR_URL", f"ws://127.0.0.1:{monitor_port}/")
    os.environ.setdefault("PARLEY_MONITOR_MANAGEMENT_URL", f"http://127.0.0.1:{monitor_port}")
    if not os.environ.get("PARLEY_LOCAL_SECRET_KEY"):
        from chalicelib.secrets_box import LocalSecretBox

        os.environ["PARLEY_LOCAL_SECRET_KEY"] = LocalSecretBox.generate_key()
    os.environ.setdefault("PARLEY_STREAM_TOKEN_SECRET", secrets.token_urlsafe(32))
    os.environ.setdefault("PARLEY_DRAIN_TIMEOUT_S", "10")  # Ctrl-C should not wait long for live calls
    # Post-call webhooks to your own machine: allowed locally (a deployment refuses private targets).
    os.environ.setdefault("PARLEY_DELIVERY_ALLOWED_NETWORKS", "127.0.0.0/8")
    # SIP trunk hosts on your own machine (the carrier simulator's trunks): allowed locally, refused in a deployment.
    os.environ.setdefault("PARLEY_SIP_ALLOWED_NETWORKS", "127.0.0.0/8")
    # Web search: there is no internet here, so every agent's searches go to the SearXNG stand-in (whatever provider
    # the agent names). PARLEY_SEARXNG_URL=<a real SearXNG> uses that instead; PARLEY_SEARCH_PROVIDER_OVERRIDE= (empty)
    # lets agents use their own providers (DuckDuckGo, Tavily, Exa) when the machine has internet.
    os.environ.setdefault("PARLEY_SEARXNG_URL", search_url)
    os.environ.setdefault("PARLEY_SEARCH_PROVIDER_OVERRIDE", "SearXNG")
    os.environ.setdefault("PARLEY_SEARCH_ALLOWED_NETWORKS", "127.0.0.0/8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("PARLEY_API_PORT", "8600")))
    parser.add_argument("--aws-port", type=int, default=int(os.environ.get("PARLEY_AWS_PORT", "4600")))
    parser.add_argument("--carrier-port", type=int, default=int(os.environ.get("PARLEY_CARRIER_PORT", "8650")))
    parser.add_argument("--streaming-port", type=int,
                        default=int(os.environ.get("PARLEY_STREAMING_PORT", "8700")))
    parser.add_argument("--monitor-port", type=int, default=int(os.environ.get("PARLEY_MONITOR_PORT", "8602")))
    parser.add_argument("--search-port", type=int, default=int(os.environ.get("PARLEY_SEARCH_PORT", "8604")))
    parser.add_argument("--whatsapp-sim-port", type=int,
                        default=int(os.environ.get("PARLEY_WHATSAPP_SIM_PORT", "8606")))
    parser.add_argument("--state-file", type=Path, default=STATE_DIR / "stack.json")
    args = parser.parse_args(argv)
    for name, port in (("--api-port", args.api_port), ("--aws-port", args.aws_port),
                       ("--carrier-port", args.carrier_port), ("--streaming-port", args.streaming_port),
                       ("--monitor-port", args.monitor_port), ("--search-port", args.search_port),
                       ("--whatsapp-sim-port", args.whatsapp_sim_port)):
        if not port_is_free(port):
            print(f"port {port} is in use; pick another with {name}", file=sys.stderr)
            return 2

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    aws = EmbeddedAws.start(args.aws_port)
    state_dir = args.state_file.parent
    state_dir.mkdir(parents=True, exist_ok=True)
    recordings_dir = state_dir / "recordings" if _voice_enabled() else None
    carrier = CarrierProcess.start(args.carrier_port, recordings_dir=recordings_dir, log_path=state_dir / "carrier.log")
    server = runner = streaming = monitor = search = control = whatsapp = None
    switch: StreamingSwitch | None = None
    try:
        whatsapp = WhatsAppSimProcess.start(args.whatsapp_sim_port, log_path=state_dir / "whatsapp_sim.log")
        from devstack.search_standin import SearchStandin

        search = SearchStandin(args.search_port).start()
        _configure_environment(aws, f"http://127.0.0.1:{args.api_port}", carrier.url, args.streaming_port,
                               args.monitor_port, search.url, whatsapp)
        # Imported only now: the models read their table names from the environment.
        import app as app_module
        from chalicelib import event_bus, recordings
        from chalicelib.domain.accounts import create_account
        from devstack import local_resources
        from devstack.api_gateway import ApiGatewayServer
        from devstack.demo_agent import create_demo_agent
        from devstack.runner import runner_for_app
        from devstack.stack_control import StackControl, StreamingSwitch
        from devstack.websocket_gateway import WebSocketGateway

        local_resources.create_all()
        # Before the streaming service, whose tasks connect to it.
        monitor = WebSocketGateway(app_module.app, port=args.monitor_port).start()
        if _voice_enabled():
            print("Loading the speech and language models (streaming service)...", flush=True)
            streaming = StreamingProcess.start(args.streaming_port, log_path=state_dir / "streaming.log")
            os.environ.setdefault("PARLEY_STREAMING_HEALTH_URL", f"{streaming.url}/healthz")  # the status probe's
            switch = StreamingSwitch(
                lambda: StreamingProcess.start(args.streaming_port, log_path=state_dir / "streaming.log"), streaming)
            control = StackControl(switch).start()
        issued = create_account("Local development")
        web_demo_url = create_demo_agent(issued.account_id, f"http://127.0.0.1:{args.api_port}")
        server = ApiGatewayServer(app_module.app, port=args.api_port)
        server.serve_in_thread()
        runner = runner_for_app(app_module, status_probe=True)
        runner.start()
        stack = {
            "api_url": f"{server.url}/api/v1",
            "api_key": issued.api_key,
            "account_id": issued.account_id,
            "aws_endpoint_url": aws.endpoint_url,
            "carrier_url": os.environ["PARLEY_TWILIO_API_URL"],
            "carrier_sim_url": carrier.url,
            "table_prefix": os.environ["PARLEY_TABLE_PREFIX"],
            "openapi_url": f"{server.url}/api/v1/openapi.json",
            "mcp_url": f"{server.url}/api/v1/mcp",  # the MCP server (streamable HTTP, Bearer api_key)
            "web_demo_url": web_demo_url if streaming is not None else None,
            "dashboard_url": f"{server.url}/dashboard",
            "streaming_url": os.environ["PARLEY_STREAMING_URL"] if streaming is not None else None,
            "streaming_health_url": f"{streaming.url}/healthz" if streaming is not None else None,
            "status_url": f"{server.url}/api/status-page/heartbeat/all",
            "control_url": control.url if control is not None else None,  # stop/start the streaming service
            "recordings_bucket": recordings.bucket_name(),
            "event_bus": event_bus.bus_name(),
            "monitor_url": os.environ["PARLEY_MONITOR_URL"],
            "searxng_url": os.environ["PARLEY_SEARXNG_URL"],  # where "SearXNG" searches go (the stand-in by default)
            "search_standin_url": search.url,
            "graph_api_url": os.environ["PARLEY_GRAPH_API_URL"],  # where WhatsApp Graph calls go (the sim by default)
            "whatsapp_sim_url": whatsapp.url,
        }
        args.state_file.parent.mkdir(parents=True, exist_ok=True)
        # Written whole, then renamed: a reader polling for the file never sees half of it.
        partial = args.state_file.with_suffix(".json.partial")
        partial.write_text(json.dumps(stack, indent=2) + "\n")
        os.replace(partial, args.state_file)
        print("Parley local stack is up (state lives in memory and is gone when you stop it).")
        for key, value in stack.items():
            print(f"  {key:<17} {value}")
        print(f"  written to        {args.state_file}")
        allowed = os.environ["PARLEY_DELIVERY_ALLOWED_NETWORKS"]
        if allowed:
            print(f"  note: post-call deliveries may target {allowed} here (local stack only; a deployment "
                  "refuses private, loopback and link-local targets unless configured)")
        if os.environ.get("PARLEY_SEARCH_PROVIDER_OVERRIDE"):
            print(f"  note: agents' web searches all go to {os.environ['PARLEY_SEARCH_PROVIDER_OVERRIDE']} at "
                  f"{os.environ['PARLEY_SEARXNG_URL']} (the stand-in is a test double serving "
                  "devstack/search_corpus.json)")
        print("Ctrl-C stops everything.", flush=True)
        stop.wait()
    finally:
        if runner is not None:
            runner.stop()
        if control is not None:
            control.stop()
        if switch is not None:
            switch.stop()  # the streaming process it holds now (it may have restarted it)
        elif streaming is not None:
            streaming.stop(timeout=30)
        if server is not None:
            server.shutdown()
            server.server_close()
        if monitor is not None:
            monitor.stop()
        if search is not None:
            search.stop()
        if whatsapp is not None:
            whatsapp.stop()
        carrier.stop()
        aws.stop()
        args.state_file.unlink(missing_ok=True)
        print("Parley local stack stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
