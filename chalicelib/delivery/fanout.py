"""``call.completed`` -> one delivery per enabled post-call action whose trigger statuses match.

Each delivery is created under an ``attribute_not_exists`` condition keyed on (call, action), so a
redelivered or duplicated event creates nothing new; every delivery still pending is (re)queued,
which covers a crash between creating it and queueing it (the sender drops duplicates).
Only ``call.completed`` events of real calls fan out (a test event never does).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pynamodb.exceptions import PutError, TransactWriteError

from chalicelib import queues
from chalicelib.db.models import Delivery, PostCallAction
from chalicelib.db.transactions import cancellation_codes, transaction
from chalicelib.delivery import records
from chalicelib.domain.call_completed import DETAIL_TYPE
from chalicelib.observability import logger


@dataclass
class FanOut:
    """Fans out a batch of events: each agent's actions are read once per batch, the batch's deliveries
    are created together at ``flush`` (conditional puts in one transaction per 100) and their messages
    sent together. A failed flush fails the whole batch, which is safe to retry."""

    _actions: dict[tuple[int, int], list[PostCallAction]] = field(default_factory=dict)
    _items: dict[tuple[str, int], Delivery] = field(default_factory=dict)

    def add(self, envelope: dict[str, Any]) -> int:
        """Plan the deliveries of one EventBridge event; returns how many it has."""
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
        for action in wanted:
            item = Delivery(records.call_key(account_id, call_id), action.action_id, account_id=account_id,
                            call_id=call_id, agent_id=agent_id, action_type=action.type,
                            webhook_id=records.webhook_id(call_id, action.action_id), status=records.PENDING,
                            event=packed)
            self._items.setdefault((item.call_key, item.action_id), item)
        logger.info("call.completed fanned out", extra={"call_id": call_id, "deliveries": len(wanted)})
        return len(wanted)

    def flush(self) -> int:
        """Create the planned deliveries and queue every one still pending; returns how many were queued."""
        items, self._items = list(self._items.values()), {}
        to_queue: list[Delivery] = []
        for start in range(0, len(items), 100):
            to_queue += _create(items[start:start + 100])
        if to_queue:
            queues.send_many(queues.DELIVERIES, [records.message(item) for item in to_queue])
        return len(to_queue)


def _create(items: list[Delivery]) -> list[Delivery]:
    """Create ``items`` (at most 100) under ``attribute_not_exists``; returns those pending (new or not yet
    delivered, which a redelivered event queues again: the sender drops duplicates)."""
    tx = transaction()
    try:
        with tx:
            for item in items:
                tx.save(item, condition=Delivery.action_id.does_not_exist())
        return items
    except TransactWriteError as error:
        if "ConditionalCheckFailed" not in cancellation_codes(error):
            raise
    pending = []  # some exist already (a redelivered event): one at a time
    for item in items:
        try:
            item.save(condition=Delivery.action_id.does_not_exist())
        except PutError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            existing = Delivery.get(item.call_key, item.action_id, consistent_read=True, attributes_to_get=["status"])
            if existing.status != records.PENDING:
                continue
        pending.append(item)
    return pending


def fan_out(envelope: dict[str, Any]) -> int:
    """Create and queue the deliveries of one event (see ``FanOut``); returns how many were queued."""
    batch = FanOut()
    batch.add(envelope)
    return batch.flush()
