"""``call.completed`` -> one delivery per enabled post-call action whose trigger statuses match.

Each delivery is created under an ``attribute_not_exists`` condition keyed on (call, action), so a
redelivered or duplicated event creates nothing new; every delivery still pending is (re)queued,
which covers a crash between creating it and queueing it (the sender drops duplicates).
"""
from __future__ import annotations

from typing import Any

from pynamodb.exceptions import PutError

from chalicelib import queues
from chalicelib.db.models import Delivery, PostCallAction
from chalicelib.delivery import records
from chalicelib.delivery.events import DETAIL_TYPE
from chalicelib.observability import logger


def matching_actions(account_id: int, agent_id: int, status: str) -> list[PostCallAction]:
    actions = PostCallAction.query(f"{account_id}#{agent_id}", consistent_read=True)
    return [a for a in actions if a.config.get("enabled", True)
            and status in a.config.get("trigger_call_statuses", ["completed"])]


def fan_out(envelope: dict[str, Any]) -> int:
    """Create and queue the deliveries of one EventBridge event; returns how many were queued."""
    if envelope.get("detail-type") != DETAIL_TYPE:
        return 0
    event = envelope["detail"]
    if event.get("test"):
        return 0
    account_id, call_id, agent_id = int(event["account_id"]), int(event["call_id"]), int(event["agent"]["id"])
    packed = records.pack_event(event)
    to_send: list[dict[str, Any]] = []
    for action in matching_actions(account_id, agent_id, event["status"]):
        item = Delivery(records.call_key(account_id, call_id), action.action_id, account_id=account_id,
                        call_id=call_id, agent_id=agent_id, action_type=action.type,
                        webhook_id=records.webhook_id(call_id, action.action_id), status=records.PENDING,
                        event=packed)
        try:
            item.save(condition=Delivery.action_id.does_not_exist())
        except PutError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            item = Delivery.get(item.call_key, item.action_id, consistent_read=True,
                                attributes_to_get=["status", "account_id", "call_id", "action_id"])
            if item.status != records.PENDING:
                continue
        to_send.append(records.message(item))
    if to_send:
        queues.send_many(queues.DELIVERIES, to_send)
    logger.info("call.completed fanned out", extra={"call_id": call_id, "deliveries": len(to_send)})
    return len(to_send)
