"""The SQS queues (one definition for infra/, the local stack and the code that sends to them).

Queue URLs are looked up once per process and name (``queue_url`` is cached).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from typing import Any

from chalicelib import aws_clients


@dataclass(frozen=True)
class QueueSpec:
    key: str
    visibility_timeout: int
    max_receive_count: int
    description: str


DIALER = QueueSpec("dialer", visibility_timeout=60, max_receive_count=1000,
                   description="one message per campaign contact to dial (held back while slots are full)")
CAMPAIGN_OPS = QueueSpec("campaign-ops", visibility_timeout=120, max_receive_count=10,
                         description="campaign maintenance: cancel sweeps, manual retries; "
                         "ending web calls nobody connected to")
CALL_EVENTS = QueueSpec("call-events", visibility_timeout=60, max_receive_count=10,
                        description="call.completed events from the bus (a rule routes them here) to fan out")
# A delivery's retries are held back on this queue (its record counts the attempts and sends it to the DLQ
# itself after the last one); the redrive policy only catches messages that crash the consumer.
DELIVERIES = QueueSpec("deliveries", visibility_timeout=120, max_receive_count=50,
                       description="one message per post-call delivery (call x action) to send")
ALL_QUEUES: tuple[QueueSpec, ...] = (DIALER, CAMPAIGN_OPS, CALL_EVENTS, DELIVERIES)


def queue_name(spec: QueueSpec) -> str:
    prefix = os.environ.get("PARLEY_QUEUE_PREFIX") or os.environ.get("PARLEY_TABLE_PREFIX", "parley")
    return f"{prefix}-{spec.key}"


def dlq_name(spec: QueueSpec) -> str:
    return f"{queue_name(spec)}-dlq"


def _client() -> Any:
    return aws_clients.client("sqs")


@cache
def queue_url(name: str) -> str:
    return _client().get_queue_url(QueueName=name)["QueueUrl"]


def send(spec: QueueSpec, body: dict[str, Any], delay_seconds: int = 0) -> None:
    _client().send_message(QueueUrl=queue_url(queue_name(spec)), MessageBody=json.dumps(body),
                           DelaySeconds=max(0, min(int(delay_seconds), 900)))


def send_many(spec: QueueSpec, bodies: list[dict[str, Any]]) -> None:
    url = queue_url(queue_name(spec))
    for start in range(0, len(bodies), 10):
        chunk = bodies[start:start + 10]
        result = _client().send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": json.dumps(b)} for i, b in enumerate(chunk)])
        if result.get("Failed"):
            raise RuntimeError(f"SQS refused {len(result['Failed'])} messages: {result['Failed'][0]}")


def send_to_dlq(spec: QueueSpec, body: dict[str, Any]) -> None:
    """Park a message that will not be retried in ``spec``'s dead-letter queue (for alarms and redrive)."""
    _client().send_message(QueueUrl=queue_url(dlq_name(spec)), MessageBody=json.dumps(body))


def hold_back(spec: QueueSpec, receipt_handle: str, seconds: int) -> None:
    """Make a received message visible again after ``seconds`` (at most SQS's 12 hours)."""
    _client().change_message_visibility(QueueUrl=queue_url(queue_name(spec)), ReceiptHandle=receipt_handle,
                                        VisibilityTimeout=max(0, min(int(seconds), 43_200)))
