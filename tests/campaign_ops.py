"""The campaign-operations queue in tests: wait for its (delayed) messages and hand them to its consumer, as
Lambda's event source mapping does."""
from __future__ import annotations

import json
import time
from typing import Any

import boto3


def run_campaign_ops(count: int, deadline_s: float = 10.0) -> list[dict[str, Any]]:
    """Wait for ``count`` messages on the campaign-ops queue, run ``app.campaign_ops_worker`` on them, return them."""
    from app import campaign_ops_worker
    from chalicelib import queues

    sqs = boto3.client("sqs")
    url = queues.queue_url(queues.queue_name(queues.CAMPAIGN_OPS))
    handled: list[dict[str, Any]] = []
    deadline = time.monotonic() + deadline_s
    while len(handled) < count and time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if not messages:
            continue
        event = {"Records": [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                              "attributes": {}, "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
                              "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
                              "awsRegion": "us-east-1"} for m in messages]}
        assert campaign_ops_worker(event, None) == {"batchItemFailures": []}
        handled += [json.loads(m["Body"]) for m in messages]
    assert len(handled) == count, handled
    return handled
