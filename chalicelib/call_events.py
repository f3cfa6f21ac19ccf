"""Call lifecycle events on the EventBridge bus (``PARLEY_EVENT_BUS_NAME``).

Source ``parley.calls``; detail-types ``call.started`` and ``call.ended``. Every detail carries a
``version`` so subscribers can evolve with it.
"""
from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

SOURCE = "parley.calls"
VERSION = "1"
DEFAULT_BUS = "parley-calls"


def bus_name() -> str:
    return os.environ.get("PARLEY_EVENT_BUS_NAME", DEFAULT_BUS)


def entry(detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    body = {"version": VERSION, "occurred_at": datetime.now(UTC).isoformat(), **detail}
    return {"Source": SOURCE, "DetailType": detail_type, "Detail": json.dumps(body, default=str),
            "EventBusName": bus_name()}


def put(detail_type: str, detail: dict[str, Any], client: Any = None) -> None:
    import boto3

    events = client or boto3.session.Session().client("events")  # thread-safe without a shared client
    answer = events.put_events(Entries=[entry(detail_type, detail)])
    if answer.get("FailedEntryCount"):
        failure = answer["Entries"][0]
        raise RuntimeError(f"EventBridge refused {detail_type}: {failure.get('ErrorCode')} {failure.get('ErrorMessage')}")


def create_bus(client: Any = None) -> None:
    """Create the bus (local stack and tests; infra/ creates it in AWS)."""
    import boto3

    events = client or boto3.client("events")
    try:
        events.create_event_bus(Name=bus_name())
    except events.exceptions.ResourceAlreadyExistsException:
        pass
