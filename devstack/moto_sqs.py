"""Makes the embedded SQS (moto) keep its speed with deep queues.

moto finds the receivable messages by asking every message in the queue whether it is visible and
not delayed, each question reading the clock and converting it (~10 us): a receive from a queue
holding thousands of messages takes tens of milliseconds. The patched filters read the clock once.

moto also builds a queue's whole attribute map, which counts every message in the queue three times,
whenever it needs one attribute: when it sends a message (content-based deduplication check) and,
per message, when it receives (retention check). A send or receive then costs O(messages) and a
queue holding a few thousand messages (post-call deliveries, retries waiting for their next attempt)
slows to seconds per request. ``install()`` makes ``Queue.attributes`` a read-only mapping that
computes an attribute only when it is read; the values and the set of keys are moto's own.

A delete scans the queue three times (is the handle known, which message, rebuild the list); the
patched one stops at the message, which is near the front of a queue consumed in order.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

_INSTALLED = False


class LazyQueueAttributes(Mapping[str, Any]):
    """moto's ``Queue.attributes``, computed per key on access."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue
        keys = list(queue.BASE_ATTRIBUTES)
        if queue.fifo_queue:
            keys += queue.FIFO_ATTRIBUTES
        if queue.kms_master_key_id:
            keys += queue.KMS_ATTRIBUTES
        self._keys = keys

    def __getitem__(self, key: str) -> Any:
        from moto.core.utils import camelcase_to_underscores

        if key not in self._keys:
            raise KeyError(key)
        if key == "RedrivePolicy" and self._queue.redrive_policy:
            return json.dumps(self._queue.redrive_policy)
        value = getattr(self._queue, camelcase_to_underscores(key))
        return str(value).lower() if isinstance(value, bool) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def install() -> None:
    global _INSTALLED
    if _INSTALLED:
        return
    from moto.core.utils import unix_time_millis
    from moto.sqs.models import Queue

    def messages(self: Any) -> list[Any]:
        now = unix_time_millis()
        return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]

    def not_visible(self: Any) -> int:
        now = unix_time_millis()
        return sum(1 for m in self._messages if not now > m.visible_at)

    def delayed(self: Any) -> int:
        now = unix_time_millis()
        return sum(1 for m in self._messages if now < m.delayed_until)

    Queue.messages = property(messages)  # type: ignore[assignment]
    Queue.approximate_number_of_messages_not_visible = property(not_visible)  # type: ignore[assignment]
    Queue.approximate_number_of_messages_delayed = property(delayed)  # type: ignore[assignment]
    Queue.attributes = property(LazyQueueAttributes)  # type: ignore[assignment]
    Queue.delete_message = _delete_message  # type: ignore[method-assign]
    _INSTALLED = True


def _delete_message(self: Any, receipt_handle: str) -> None:
    """moto's ``Queue.delete_message`` in one pass (a new list, as moto does, for concurrent readers)."""
    from moto.sqs.exceptions import ReceiptHandleIsInvalid

    if receipt_handle in self.deleted_messages:
        return  # already deleted: deleting again succeeds
    messages = self._messages
    for index, message in enumerate(messages):
        if receipt_handle in message.all_receipt_handles:
            self.pending_messages.discard(message)
            self.deleted_messages.update(message.all_receipt_handles)
            self._messages = messages[:index] + messages[index + 1:]
            return
    raise ReceiptHandleIsInvalid()
