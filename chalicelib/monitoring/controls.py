"""Supervisor controls (``POST /calls/{id}/control``): reach the streaming task that holds the call.

The call names its task (``media_task``, set when the task admitted the media); the task's monitoring
link is a connection of the monitoring API; the control is posted to it (docs/monitoring.md).
"""
from __future__ import annotations

import time
import uuid
from typing import Any

from chalicelib.db.models import Call
from chalicelib.domain.call_state import TERMINAL
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.monitoring import sender
from chalicelib.monitoring.watchers import task_links

NOT_LIVE = "call_not_live"


class NotLive(Conflict):
    code = NOT_LIVE


def send(account_id: int, call_id: int, control: dict[str, Any]) -> dict[str, Any]:
    """Post ``control`` to the call's task; returns the note sent. NotFound / NotLive otherwise."""
    try:
        call = Call.get(account_id, call_id, consistent_read=True)
    except Call.DoesNotExist:
        raise NotFound(f"no call {call_id} in this account") from None
    if call.status in TERMINAL or not call.media_task or call.media_finalized_at is not None:
        raise NotLive(f"call {call_id} has no live conversation (status {call.status})")
    client = sender.management_client()
    connection_id = task_links().get(call.media_task) if client is not None else None
    note = {"type": "control", "id": uuid.uuid4().hex, "account_id": account_id, "call_id": call_id,
            "control": control, "requested_at": time.time()}
    if connection_id is None or not sender.post(client, connection_id, [note]):
        raise NotLive(f"call {call_id}: the streaming task that held it is gone")
    return note
