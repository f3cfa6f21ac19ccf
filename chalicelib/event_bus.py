"""Call lifecycle events on the EventBridge bus (``PARLEY_EVENT_BUS_NAME``).

Source ``parley.calls``; detail-types ``call.started`` and ``call.completed`` (its detail is documented in
``docs/events/``). Every detail carries a ``version`` so subscribers can evolve with it. ``ROUTES`` are the
rules that feed our own queues from the bus (infra/ deploys them; the local stack creates them too).
"""
from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

from chalicelib import aws_clients

SOURCE = "parley.calls"
VERSION = "1"
DEFAULT_BUS = "parley-calls"
# rule name suffix -> (event pattern, key of the queue in chalicelib.queues it targets)
ROUTES: dict[str, tuple[dict[str, Any], str]] = {
    "call-completed": ({"source": [SOURCE], "detail-type": ["call.completed"]}, "call-events"),
}


def bus_name() -> str:
    return os.environ.get("PARLEY_EVENT_BUS_NAME", DEFAULT_BUS)


def entry(detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    body = {"version": VERSION, "occurred_at": datetime.now(UTC).isoformat(), **detail}
    return {"Source": SOURCE, "DetailType": detail_type, "Detail": json.dumps(body, default=str),
            "EventBusName": bus_name()}


def put(detail_type: str, detail: dict[str, Any], client: Any = None) -> None:
    events = client or aws_clients.client("events")
    answer = events.put_events(Entries=[entry(detail_type, detail)])
    if answer.get("FailedEntryCount"):
        failure = answer["Entries"][0]
        reason = f"{failure.get('ErrorCode')} {failure.get('ErrorMessage')}"
        raise RuntimeError(f"EventBridge refused {detail_type}: {reason}")
