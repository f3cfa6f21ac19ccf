"""The streaming service's HTTP server: ``/twilio`` media streams, ``/web/offer`` WebRTC signaling,
``/whatsapp/answer`` and ``/whatsapp/offer`` (WhatsApp calls' SDP, for the API), ``/healthz``, ``/stats``.

Only ``/twilio``, ``/web/*`` and ``/whatsapp/*`` are reachable through the public load balancer; ``/healthz``
is for the load balancer's health checks, ``/stats`` for operators inside the VPC. Each task takes at most
``max_streams`` calls (Twilio sockets and WebRTC peers together; WhatsApp calls are WebRTC peers): past it, a
stream is answered 503 before the WebSocket upgrade or the SDP answer, so it costs no session.

SIGTERM drains: health turns 503 (the load balancer stops sending calls), new streams are refused,
live calls get ``drain_timeout_s`` to end on their own (a WhatsApp offer still ringing may yet be answered),
then are hung up and finalized; offers still ringing then are dropped.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import time

from aiohttp import web

from streaming.call_core import Lifecycle, ServiceState
from streaming.engines.registry import EngineRegistry, Kind
from streaming.monitoring.hub import MonitorHub
from streaming.search import describe_config as describe_search_config
from streaming.search import warm_up as search_warm_up
from streaming.settings import StreamingSettings, stream_token_secret
from streaming.transports import whatsapp_signaling
from streaming.transports.twilio_stream import TwilioMediaStream
from streaming.transports.webrtc_signaling import IceServers, offer_handler, preflight

log = logging.getLogger("parley.streaming.server")
STATE = web.AppKey("state", ServiceState)
MAX_MESSAGE_BYTES = 64 * 1024


async def twilio_stream(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    if state.draining:
        return web.json_response({"error": "draining", "error_description": "this server is shutting down"},
                                 status=503)
    if state.streams >= state.settings.max_streams:
        state.counters["refused_busy"] += 1
        return web.json_response({"error": "busy", "error_description":
                                  f"this server is at its limit of {state.settings.max_streams} streams"},
                                 status=503, headers={"Retry-After": "1"})
    state.streams += 1  # no await since the check: the count cannot be overtaken
    try:
        ws = web.WebSocketResponse(heartbeat=state.settings.heartbeat_s, max_msg_size=MAX_MESSAGE_BYTES,
                                   autoping=True)
        await ws.prepare(request)
        try:
            await TwilioMediaStream(state, ws).run()
        except Exception:
            state.counters["errors"] += 1
            log.exception("stream failed")
        finally:
            if not ws.closed:
                with contextlib.suppress(Exception):
                    await ws.close()
    finally:
        state.streams -= 1
    return ws


async def healthz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = {"status": "draining" if state.draining else "ok", "active_calls": len(state.active)}
    return web.json_response(body, status=503 if state.draining else 200)


async def stats(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response({"active_calls": len(state.active), "open_streams": state.streams,
                              "web_calls": state.web_calls, "whatsapp_calls": state.whatsapp_calls,
                              "whatsapp_ringing": len(state.ringing),
                              "finalizing": len(state.finalizing),
                              "draining": state.draining, "counters": dict(state.counters),
                              "pacing": state.pacing.to_json(),
                              "monitoring": dict(state.monitor.publisher.counters) if state.monitor else None,
                              "engines_loaded": [f"{kind}:{name}" for kind, name in state.registry.loaded()]})


def create_app(settings: StreamingSettings | None = None, registry: EngineRegistry | None = None,
               token_secret: str | None = None, lifecycle: Lifecycle | None = None,
               ice_servers: IceServers | None = None, monitor: MonitorHub | None = None) -> web.Application:
    settings = settings or StreamingSettings.from_env()
    state = ServiceState(settings=settings, registry=registry or EngineRegistry(),
                         token_secret=token_secret if token_secret is not None else stream_token_secret(),
                         lifecycle=lifecycle or Lifecycle.aws())
    state.monitor = monitor if monitor is not None else MonitorHub.from_env(state.token_secret)
    app = web.Application()
    app[STATE] = state
    app.router.add_get("/twilio", twilio_stream)
    ice_servers = ice_servers or _configured_ice_servers()
    app.router.add_post("/web/offer", offer_handler(STATE, ice_servers))
    app.router.add_route("OPTIONS", "/web/offer", preflight)
    app.router.add_post("/whatsapp/answer", whatsapp_signaling.answer_handler(STATE, ice_servers))
    app.router.add_post("/whatsapp/offer", whatsapp_signaling.offer_handler(STATE, ice_servers))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/stats", stats)
    app.on_startup.append(_start_metrics)
    app.on_startup.append(_start_monitoring)
    app.on_shutdown.append(_hang_up_all)
    return app


async def _start_monitoring(app: web.Application) -> None:
    hub = app[STATE].monitor
    if hub is None:
        return
    hub.start()

    async def stop(_app: web.Application) -> None:
        await hub.close()

    app.on_cleanup.append(stop)


async def drain(app: web.Application) -> None:
    """Stop taking calls; wait for live ones to end (up to the drain timeout); hang up the rest."""
    state = app[STATE]
    state.draining = True
    deadline = time.monotonic() + state.settings.drain_timeout_s
    while (state.active or state.ringing) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    await _hang_up_all(app)


async def _hang_up_all(app: web.Application) -> None:
    state = app[STATE]
    state.draining = True
    for drop_offer in list(state.ringing.values()):
        drop_offer()
    for call in list(state.active.values()):
        await call.hang_up_for_shutdown()
    deadline = time.monotonic() + 30
    while (state.active or state.finalizing or state.background) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await state.clock.close()


def _configured_ice_servers() -> IceServers:
    """The ICE servers of this deployment (the API hands browsers the same ones)."""
    from chalicelib.domain import ice_servers

    return ice_servers.IceServers.from_env().as_json


async def _start_metrics(app: web.Application) -> None:
    state = app[STATE]

    async def publish() -> None:
        from aws_lambda_powertools import Metrics
        from aws_lambda_powertools.metrics import MetricUnit

        # Dimension "service" = POWERTOOLS_SERVICE_NAME (the ECS service name in AWS): what autoscaling tracks.
        metrics = Metrics(namespace="Parley/Streaming",
                          service=os.environ.get("POWERTOOLS_SERVICE_NAME", "parley-streaming"))
        while True:
            await asyncio.sleep(state.settings.metrics_interval_s)
            metrics.add_metric(name="ActiveCalls", unit=MetricUnit.Count, value=len(state.active))
            with contextlib.suppress(Exception):
                metrics.flush_metrics()  # CloudWatch embedded metric format on stdout

    task = asyncio.create_task(publish())

    async def stop(_app: web.Application) -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    app.on_cleanup.append(stop)


async def serve(app: web.Application, host: str, port: int) -> None:
    """Run until SIGTERM/SIGINT, then drain and exit."""
    state = app[STATE]
    if state.settings.preload:
        defaults: dict[Kind, list[str]] = {
            "stt": [state.settings.stt_default], "llm": [state.settings.llm_default],
            "tts": [state.settings.tts_default], "vad": [state.settings.vad]}
        if state.settings.turn_model != "none":
            defaults["turn"] = [state.settings.turn_model]
        await asyncio.to_thread(state.registry.preload, defaults)
        await asyncio.to_thread(search_warm_up)  # web search clients: imported now, not in a call's first search
    # Everything loaded so far (modules, models, aiortc and PyAV) lives as long as the process: keep it out of
    # the garbage collector's full passes, whose pauses would otherwise grow with it and delay audio frames.
    gc.collect()
    gc.freeze()
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("streaming service listening on %s:%s", host, port)
    log.info("%s", describe_search_config(os.environ))
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    log.info("draining %d live calls", len(state.active))
    await drain(app)
    await runner.cleanup()
