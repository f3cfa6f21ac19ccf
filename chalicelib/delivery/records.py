"""Delivery items: keys, the event snapshot each one carries, and their API shape."""
from __future__ import annotations

import json
import zlib
from typing import Any

from chalicelib.db.models import Delivery

PENDING = "pending"
SUCCEEDED = "succeeded"
FAILED = "failed"  # every attempt failed (or a failure that cannot succeed): in the DLQ
REFUSED = "refused"  # the target is not allowed (SSRF rules): nothing was sent
GONE = "gone"  # the receiver answered 410: the action was disabled
CANCELLED = "cancelled"  # the action was deleted or disabled before the delivery could go
UNDELIVERED = frozenset({FAILED, REFUSED, GONE, CANCELLED})  # ended without reaching the receiver
MAX_RECORDED_ATTEMPTS = 100  # the oldest are dropped beyond this (replays can add rounds)


def call_key(account_id: int, call_id: int) -> str:
    return f"{account_id}#{call_id}"


def call_id_of(key: str) -> int:
    """The call id in a ``call_key``."""
    return int(key.split("#", 1)[1])


def action_key(account_id: int, agent_id: int, action_id: int) -> str:
    """The undelivered-by-action index key of an action's deliveries."""
    return f"{account_id}#{agent_id}#{action_id}"


def mark_finished(item: Delivery, status: str, at: float) -> None:
    """Set ``item``'s status; one that ended undelivered joins its action's undelivered index, any other
    leaves it."""
    item.status = status
    if status in UNDELIVERED:
        item.undelivered_key = action_key(item.account_id, item.agent_id, item.action_id)
        item.finished_at = round(at, 3)
    else:
        item.undelivered_key = item.finished_at = None


def webhook_id(call_id: int, action_id: int) -> str:
    """The Standard Webhooks message id: one per (call, action), the same on every attempt and replay."""
    return f"msg_call{call_id}_action{action_id}"


def pack_event(event: dict[str, Any]) -> bytes:
    return zlib.compress(json.dumps(event, separators=(",", ":"), default=str).encode(), 6)


def unpack_event(blob: bytes) -> dict[str, Any]:
    return json.loads(zlib.decompress(blob))


def message(item: Delivery) -> dict[str, Any]:
    """The deliveries queue message for ``item`` (the item holds everything else)."""
    return message_for(item.account_id, item.call_id, item.action_id)


def message_for(account_id: int, call_id: int, action_id: int) -> dict[str, Any]:
    return {"account_id": account_id, "call_id": call_id, "action_id": action_id}


def to_json(item: Delivery) -> dict[str, Any]:
    return {
        "call_id": item.call_id, "action_id": item.action_id, "action_type": item.action_type,
        "webhook_id": item.webhook_id, "status": item.status, "attempt_count": int(item.attempt_count or 0),
        "next_attempt_at": item.next_attempt_at, "last_error": item.last_error,
        "delivered_at": item.delivered_at, "attempts": list(item.attempts or []),
        "created_at": item.created_at, "updated_at": item.updated_at,
    }
