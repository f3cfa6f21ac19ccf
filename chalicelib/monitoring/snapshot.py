"""The ``snapshot`` a watcher gets when it subscribes: the active calls it now follows, with their transcript
so far (one Query on the active-calls index; a streaming task mirrors each call's final transcript lines
into ``Call.live`` as they happen)."""
from __future__ import annotations

from typing import Any

from chalicelib.db.models import Call
from chalicelib.monitoring import events
from chalicelib.monitoring.subscriptions import Subscription

MAX_CALLS = 500


def snapshot(account_id: int, subscription: Subscription) -> dict[str, Any]:
    calls = []
    for call in Call.active_by_account.query(account_id, limit=MAX_CALLS):
        if subscription.follows_call(call.call_id, call.bulk_call_id):
            calls.append(describe(call))
    return events.event("snapshot", call_id=None, bulk_call_id=None, seq=0, calls=calls)


def describe(call: Call) -> dict[str, Any]:
    live = call.live or {}
    details = call.details or {}
    started = details.get("in_progress_at")
    return {
        "call_id": call.call_id, "bulk_call_id": call.bulk_call_id, "agent_id": call.agent_id,
        "channel": call.channel or "phone", "to_number": call.to_number, "status": call.status,
        "created_at": events.now_iso(call.created_at.timestamp()),
        "started_at": started,
        "seq": int(live.get("seq") or events.STATUS_SEQ.get(call.status, 0)),
        "transcript": list(live.get("transcript") or []),
    }
