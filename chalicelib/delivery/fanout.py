"""``call.completed`` -> one delivery per enabled post-call action whose trigger statuses match.

Each delivery is created under an ``attribute_not_exists`` condition keyed on (call, action), so a
redelivered or duplicated event creates nothing new; every delivery still pending is (re)queued,
which covers a crash between creating it and queueing it (the sender drops duplicates).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pynamodb.exceptions import PutError

from chalicelib import queues
from chalicelib.db.models import Delivery, PostCallAction
from chalicelib.delivery import records
from chalicelib.delivery.events import DETAIL_TYPE
from chalicelib.observability import logger


@dataclass
class FanOut:
    """Fans out a batch of events: each agent's actions are read once per batch, and the deliveries'
    messages go out together at ``flush`` (a failed flush fails the whole batch, which is safe to retry)."""

    _actions: dict[tuple[int, int], list[PostCallAction]] = field(default_factory=dict)
    _messages: list[dict[str, Any]] = field(default_factory=list)

    def add(self, envelope: dict[str, Any]) -> int:
        """Create the deliveries of one EventBridge event; returns how many will be queued."""
        if envelope.get("detail-type") != DETAIL_TYPE:
            return 0
        event = envelope["detail"]
        if event.get("test"):
            return 0
        account_id, call_id, agent_id = int(event["account_id"]), int(event["call_id"]), int(event["agent"]["id"])
        if (account_id, agent_id) not in self._actions:
            self._actions[(account_id, agent_id)] = list(
                PostCallAction.query(f"{account_id}#{agent_id}", consistent_read=True))
        wanted = [a for a in self._actions[(account_id, agent_id)] if a.config.get("enabled", True)
                  and event["status"] in a.config.get("trigger_call_statuses", ["completed"])]
        packed = records.pack_event(event) if wanted else b""
        queued = 0
        for action in wanted:
            if self._create(action, account_id, call_id, agent_id, packed):
                self._messages.append({"account_id": account_id, "call_id": call_id, "action_id": action.action_id})
                queued += 1
        logger.info("call.completed fanned out", extra={"call_id": call_id, "deliveries": queued})
        return queued

    def flush(self) -> None:
        if self._messages:
            queues.send_many(queues.DELIVERIES, self._messages)
            self._messages = []

    @staticmethod
    def _create(action: PostCallAction, account_id: int, call_id: int, agent_id: int, packed: bytes) -> bool:
        """Create the delivery; True when it is (still) pending and so must be queued."""
        item = Delivery(records.call_key(account_id, call_id), action.action_id, account_id=account_id,
                        call_id=call_id, agent_id=agent_id, action_type=action.type,
                        webhook_id=records.webhook_id(call_id, action.action_id), status=records.PENDING,
                        event=packed)
        try:
            item.save(condition=Delivery.action_id.does_not_exist())
        except PutError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            existing = Delivery.get(item.call_key, item.action_id, consistent_read=True, attributes_to_get=["status"])
            return existing.status == records.PENDING
        return True


def fan_out(envelope: dict[str, Any]) -> int:
    """Create and queue the deliveries of one event (see ``FanOut``)."""
    batch = FanOut()
    queued = batch.add(envelope)
    batch.flush()
    return queued
