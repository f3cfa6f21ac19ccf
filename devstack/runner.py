"""The local stand-in for Lambda's event sources: polls the SQS queues and fires the schedules,
invoking the same Chalice handlers AWS would, honouring their partial batch failure reports."""
from __future__ import annotations

import os
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from chalicelib import queues
from chalicelib.observability import logger


class _Context:
    function_name = "parley-local"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:parley-local"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass
class QueueConsumer:
    spec: queues.QueueSpec
    handler: Callable[[dict[str, Any], Any], Any]
    batch_size: int = 10
    workers: int = 1


@dataclass
class Schedule:
    every_seconds: float
    handler: Callable[[dict[str, Any], Any], Any]


@dataclass
class LocalRunner:
    consumers: list[QueueConsumer]
    schedules: list[Schedule] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for consumer in self.consumers:
            for n in range(consumer.workers):
                self._spawn(f"sqs-{consumer.spec.key}-{n}", self._poll, consumer)
        for schedule in self.schedules:
            self._spawn("schedule", self._tick, schedule)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, name: str, target: Callable[..., None], arg: Any) -> None:
        thread = threading.Thread(target=target, args=(arg,), name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _poll(self, consumer: QueueConsumer) -> None:
        """One worker of a consumer, run as Lambda runs it: a poller (this thread) receives the next batch
        and deletes finished messages while the function (another thread) handles the current batch."""
        sqs = boto3.client("sqs")
        url = queues.queue_url(queues.queue_name(consumer.spec))
        arn = f"arn:aws:sqs:us-east-1:123456789012:{queues.queue_name(consumer.spec)}"
        batches: queue.Queue[list[dict]] = queue.Queue(maxsize=1)
        finished: queue.SimpleQueue[list[dict]] = queue.SimpleQueue()
        function = threading.Thread(target=self._invoke, args=(consumer, arn, batches, finished),
                                    name=f"{threading.current_thread().name}-function", daemon=True)
        function.start()
        while not self._stop.is_set():
            try:
                self._delete(sqs, url, finished)
                received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=consumer.batch_size,
                                               WaitTimeSeconds=1, AttributeNames=["All"]).get("Messages", [])
                while received and not self._stop.is_set():
                    try:
                        batches.put(received, timeout=0.2)
                        break
                    except queue.Full:
                        self._delete(sqs, url, finished)
            except Exception:  # keep polling, as the Lambda service would
                logger.exception("local runner: polling failed", extra={"queue": consumer.spec.key})
                time.sleep(1)
        function.join(timeout=5)
        self._delete(sqs, url, finished)

    def _invoke(self, consumer: QueueConsumer, arn: str, batches: queue.Queue[list[dict]],
                finished: queue.SimpleQueue[list[dict]]) -> None:
        while not self._stop.is_set():
            try:
                messages = batches.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                finished.put(self._handle(arn, consumer, messages))
            except Exception:  # a handler crash: the batch comes back after its visibility timeout
                logger.exception("local runner: batch failed", extra={"queue": consumer.spec.key})

    @staticmethod
    def _handle(arn: str, consumer: QueueConsumer, messages: list[dict]) -> list[dict]:
        """Invoke the handler with a batch; the messages to delete (those not reported as failed)."""
        event = {"Records": [{
            "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m.get("MD5OfBody", ""),
            "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": "us-east-1"} for m in messages]}
        try:
            result = consumer.handler(event, _Context()) or {}
        except BatchProcessingError:
            # Every record failed: Lambda counts the invocation as failed and the whole batch comes back
            # when each message's visibility timeout ends (the handler may already have shortened it).
            return []
        failed = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
        return [m for m in messages if m["MessageId"] not in failed]

    @staticmethod
    def _delete(sqs: Any, url: str, finished: queue.SimpleQueue[list[dict]]) -> None:
        done: list[dict] = []
        while True:
            try:
                done += finished.get_nowait()
            except queue.Empty:
                break
        for start in range(0, len(done), 10):
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start:start + 10])])

    def _tick(self, schedule: Schedule) -> None:
        while not self._stop.wait(schedule.every_seconds):
            event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
                     "source": "aws.events", "account": "123456789012", "region": "us-east-1",
                     "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     "resources": [], "detail": {}}
            try:
                schedule.handler(event, _Context())
            except Exception:
                logger.exception("local runner: schedule failed")


def runner_for_app(app_module: Any, dial_workers: int = 4, status_probe: bool = False) -> LocalRunner:
    """The runner for ``app.py``'s handlers, with the campaign schedule's period shortened to 5 s; with
    ``status_probe`` (the local stack) also the status probe, every ``PARLEY_STATUS_PROBE_SECONDS`` (60 s by
    default, as deployed)."""
    schedules = [Schedule(5.0, app_module.campaign_scheduler)]
    if status_probe:
        schedules.append(Schedule(float(os.environ.get("PARLEY_STATUS_PROBE_SECONDS") or 60), app_module.status_probe))
    return LocalRunner(
        consumers=[QueueConsumer(queues.DIALER, app_module.dialer_worker, batch_size=10, workers=dial_workers),
                   QueueConsumer(queues.CAMPAIGN_OPS, app_module.campaign_ops_worker, batch_size=5),
                   QueueConsumer(queues.CALL_EVENTS, app_module.call_events_worker, batch_size=10),
                   QueueConsumer(queues.DELIVERIES, app_module.delivery_worker, batch_size=10, workers=2)],
        schedules=schedules,
    )
