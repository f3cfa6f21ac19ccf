"""The delivery pipeline run for real in tests: the bus's rule -> call-events queue -> fan-out -> deliveries
queue -> delivery worker, polled by the local runner exactly as the local stack does."""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import boto3

from chalicelib import event_bus, queues, workers
from chalicelib.db.models import Agent, Delivery, PostCallAction
from chalicelib.delivery import sender
from chalicelib.delivery.contract import DeliverySettings
from chalicelib.delivery.safe_http import SafeHttp
from chalicelib.delivery.sample import sample_call_completed
from chalicelib.domain import post_call_actions
from chalicelib.schemas.post_call_actions import ActionCreate
from devstack.runner import LocalRunner, QueueConsumer

LOCAL = DeliverySettings(allowed_networks=("127.0.0.0/8",), timeout_s=2.0, retry_schedule_s=(0, 0, 1), jitter=0.2)


def runtime(settings: DeliverySettings = LOCAL) -> sender.Runtime:
    return sender.Runtime(settings=settings, http=SafeHttp(allowed_networks=settings.allowed_networks,
                                                          timeout_s=settings.timeout_s),
                          ses=boto3.client("ses"))


@contextmanager
def running(rt: sender.Runtime, delivery_workers: int = 1) -> Iterator[LocalRunner]:
    runner = LocalRunner(consumers=[
        QueueConsumer(queues.CALL_EVENTS, lambda event, _ctx: workers.call_events_batch(event), batch_size=10),
        QueueConsumer(queues.DELIVERIES, lambda event, _ctx: workers.delivery_batch(event, runtime=rt),
                      batch_size=10, workers=delivery_workers),
    ])
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()


def make_agent(account_id: int = 1, agent_id: int = 1, name: str = "Front desk") -> None:
    Agent(account_id, agent_id, name=name, config={}).save()


def add_action(account_id: int, agent_id: int, **fields: Any) -> tuple[PostCallAction, str | None]:
    item, secret = post_call_actions.build(account_id, agent_id, ActionCreate.model_validate(fields))
    item.save()
    return item, secret


def completed_event(call_id: int, account_id: int = 1, agent_id: int = 1, **changes: Any) -> dict[str, Any]:
    detail = {**sample_call_completed(account_id, agent_id, "Front desk"), "call_id": call_id, **changes}
    detail.pop("test")
    return detail


def put_events(details: list[dict[str, Any]]) -> None:
    """Put call.completed events on the bus, ten per request (the rule routes them to the call-events queue)."""
    client = boto3.client("events")
    for start in range(0, len(details), 10):
        answer = client.put_events(Entries=[event_bus.entry("call.completed", d) for d in details[start:start + 10]])
        assert not answer.get("FailedEntryCount"), answer


def wait_until(predicate: Callable[[], bool], timeout_s: float, every_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every_s)
    return predicate()


def deliveries(account_id: int, call_id: int) -> list[Delivery]:
    return list(Delivery.query(f"{account_id}#{call_id}", consistent_read=True))


def all_deliveries() -> list[Delivery]:
    return list(Delivery.scan(consistent_read=True))


def queues_empty() -> bool:
    """Nothing waiting or in flight on the call-events and deliveries queues."""
    sqs = boto3.client("sqs")
    for spec in (queues.CALL_EVENTS, queues.DELIVERIES):
        attributes = sqs.get_queue_attributes(QueueUrl=queues.queue_url(queues.queue_name(spec)), AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        if int(attributes["ApproximateNumberOfMessages"]) or int(attributes["ApproximateNumberOfMessagesNotVisible"]):
            return False
    return True


def dlq_depth() -> int:
    """Messages in the deliveries DLQ (one attribute read; ``dlq_messages`` reads them all)."""
    url = queues.queue_url(queues.dlq_name(queues.DELIVERIES))
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def dlq_messages() -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    url = queues.queue_url(queues.dlq_name(queues.DELIVERIES))
    found: dict[str, dict[str, Any]] = {}
    for _ in range(200):
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get("Messages", [])
        if not batch:
            break
        for message in batch:
            found[message["MessageId"]] = json.loads(message["Body"])
    return list(found.values())


def with_settings(**changes: Any) -> sender.Runtime:
    return runtime(replace(LOCAL, **changes))
