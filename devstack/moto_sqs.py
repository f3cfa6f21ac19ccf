"""Makes the embedded SQS (moto) keep its speed with deep queues.

moto checks each message's retention on receive by computing all of the queue's attributes, which
counts every message in the queue: a receive costs O(messages²). A queue holding a few thousand
delayed or in-flight messages (post-call retries waiting for their next attempt) then takes seconds
per receive. ``install()`` reads the retention period directly; behaviour is unchanged.
"""
from __future__ import annotations

from typing import Any

_INSTALLED = False


def install() -> None:
    global _INSTALLED
    if _INSTALLED:
        return
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention_period = int(self.get_queue(queue_name).message_retention_period)
        return retention_period + message.sent_timestamp / 1000 > unix_time()

    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period
    _INSTALLED = True
