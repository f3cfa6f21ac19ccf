"""Parley's Chalice app: the REST API (one blueprint per resource, in chalicelib/api/), the SQS consumers and
the campaign schedule. Every handler delegates to chalicelib/ (``chalicelib.workers`` for the event handlers);
the local stack's runner invokes these same handlers."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Chalice, Rate
from chalice.app import CloudWatchEvent, SQSEvent, WebsocketEvent

from chalicelib import queues, workers
from chalicelib.api import (
    agents,
    bulk_calls,
    calls,
    deliveries,
    inbound_voice,
    monitoring,
    openapi,
    phone_numbers,
    post_call_actions,
    providers,
    status_page,
    telephony,
    web_assets,
    web_calls,
    web_search,
    whatsapp,
)
from chalicelib.api.auth import auth_bp
from chalicelib.api.routing import install_error_middleware
from chalicelib.monitoring import socket as monitor_socket

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

app = Chalice(app_name="parley")
app.experimental_feature_flags.update(["WEBSOCKETS"])
app.api.binary_types = []
install_error_middleware(app)

API = "/api/v1"
app.register_blueprint(auth_bp)
for module in (agents, post_call_actions, phone_numbers, calls, deliveries, bulk_calls, providers, telephony,
               inbound_voice, web_calls, web_search, whatsapp, monitoring, openapi):
    app.register_blueprint(module.bp, url_prefix=API)
app.register_blueprint(web_assets.bp)  # /widget.js and /web-demo, at the root
app.register_blueprint(status_page.bp, url_prefix=status_page.URL_PREFIX)  # public, Uptime Kuma's paths


# The live-monitoring WebSocket API (docs/monitoring.md; the local stack's stand-in invokes these same handlers).

@app.on_ws_connect()
def monitor_connect(event: WebsocketEvent) -> dict[str, Any]:
    return monitor_socket.on_connect(event.to_dict())


@app.on_ws_message()
def monitor_message(event: WebsocketEvent) -> dict[str, Any]:
    return monitor_socket.on_message(event.to_dict())


@app.on_ws_disconnect()
def monitor_disconnect(event: WebsocketEvent) -> dict[str, Any]:
    return monitor_socket.on_disconnect(event.to_dict())


# SQS consumers and schedules (the local stack's runner invokes these same handlers).

@app.on_sqs_message(queue=queues.queue_name(queues.DIALER), batch_size=10)
def dialer_worker(event: SQSEvent) -> PartialItemFailureResponse:
    return workers.dial_batch(event.to_dict())


@app.on_sqs_message(queue=queues.queue_name(queues.CAMPAIGN_OPS), batch_size=5)
def campaign_ops_worker(event: SQSEvent) -> PartialItemFailureResponse:
    return workers.campaign_ops_batch(event.to_dict())


@app.on_sqs_message(queue=queues.queue_name(queues.CALL_EVENTS), batch_size=10)
def call_events_worker(event: SQSEvent) -> PartialItemFailureResponse:
    return workers.call_events_batch(event.to_dict())


@app.on_sqs_message(queue=queues.queue_name(queues.DELIVERIES), batch_size=10)
def delivery_worker(event: SQSEvent) -> PartialItemFailureResponse:
    return workers.delivery_batch(event.to_dict())


@app.schedule(Rate(1, unit=Rate.MINUTES))
def campaign_scheduler(event: CloudWatchEvent) -> dict[str, Any]:
    return workers.start_due_campaigns(event.to_dict())


@app.schedule(Rate(1, unit=Rate.MINUTES))
def status_probe(event: CloudWatchEvent) -> dict[str, Any]:
    return workers.probe_status(event.to_dict())
