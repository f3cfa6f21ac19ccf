"""Sending to monitoring connections through API Gateway's WebSocket management API (``post_to_connection``).

One message is one event, or a JSON array of events when several wait for the same connection. API Gateway
takes at most 128 KiB per message, so a long batch is split. A connection that is gone (410) is deleted.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from chalicelib import aws_clients
from chalicelib.db.models import MonitorConnection
from chalicelib.observability import logger

MANAGEMENT_URL_ENV = "PARLEY_MONITOR_MANAGEMENT_URL"
MONITOR_URL_ENV = "PARLEY_MONITOR_URL"
MAX_MESSAGE_BYTES = 120 * 1024  # API Gateway's limit is 128 KiB; keep a margin


def management_url() -> str:
    return os.environ.get(MANAGEMENT_URL_ENV, "")


def monitor_url() -> str:
    return os.environ.get(MONITOR_URL_ENV, "")


def management_client() -> Any | None:
    """The management API client, or None when monitoring is not configured (nothing is then sent)."""
    url = management_url()
    return aws_clients.client("apigatewaymanagementapi", endpoint_url=url) if url else None


def encode(events: Sequence[dict[str, Any]]) -> list[bytes]:
    """The messages that carry ``events`` in order: one event alone, else arrays of at most ~120 KiB."""
    if len(events) == 1:
        return [json.dumps(events[0], separators=(",", ":")).encode()]
    messages: list[bytes] = []
    batch: list[bytes] = []
    size = 2
    for item in events:
        encoded = json.dumps(item, separators=(",", ":")).encode()
        if batch and size + len(encoded) + 1 > MAX_MESSAGE_BYTES:
            messages.append(b"[" + b",".join(batch) + b"]")
            batch, size = [], 2
        batch.append(encoded)
        size += len(encoded) + 1
    if batch:
        messages.append(batch[0] if len(batch) == 1 else b"[" + b",".join(batch) + b"]")
    return messages


def post(client: Any, connection_id: str, events: Sequence[dict[str, Any]]) -> bool:
    """Send ``events`` to one connection; False when it is gone (its record is then deleted). Other failures
    (throttling, the API unreachable) raise."""
    try:
        for message in encode(events):
            client.post_to_connection(ConnectionId=connection_id, Data=message)
    except client.exceptions.GoneException:
        forget(connection_id)
        return False
    return True


def forget(connection_id: str) -> None:
    try:
        MonitorConnection(connection_id).delete()
    except Exception:
        logger.warning("monitoring: could not delete a gone connection", extra={"connection_id": connection_id})
