"""SQS consumers and schedules, as plain functions of Lambda events (app.py wires them to Chalice).

Batches report partial failures (Powertools ``process_partial_response``): only the records that
failed come back; a dial message that must wait (full slots, daily window, retry delay) is made
visible again after the wait and reported as failed, so it is neither lost nor busy-looped.
"""
from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse, PartialItemFailures

from chalicelib import queues
from chalicelib.delivery import fanout, sender
from chalicelib.domain import campaigns, dialer, web_calls, whatsapp_outbound
from chalicelib.monitoring import publish as monitoring
from chalicelib.observability import logger
from chalicelib.status import probe as status_probe
from chalicelib.telephony.adapter import TelephonyAdapter
from chalicelib.telephony.carriers import adapter_from_settings
from chalicelib.whatsapp import hang_up


class HeldBack(Exception):
    """The message must wait; its visibility was already set to the wait."""


def dial_batch(event: dict[str, Any], telephony: TelephonyAdapter | None = None) -> PartialItemFailureResponse:
    adapter = telephony or adapter_from_settings()

    def handle(record: SQSRecord) -> None:
        message = json.loads(record.body)
        verdict = dialer.handle_dial(message, adapter)
        logger.info("dial verdict", extra={"line_id": message.get("line_id"), "attempt": message.get("attempt"),
                                           "done": verdict.done, "note": verdict.note})
        if not verdict.done:
            queues.hold_back(queues.DIALER, record.receipt_handle, verdict.retry_in)
            raise HeldBack(verdict.note)

    return process_partial_response(event=event, record_handler=handle,
                                    processor=BatchProcessor(event_type=EventType.SQS))


def campaign_ops_batch(event: dict[str, Any]) -> PartialItemFailureResponse:
    """Campaign sweeps, the delayed checks that end a web call nobody connected to and a WhatsApp call nobody
    answered, and the hang-up of a WhatsApp call the streaming service ended."""

    def handle(record: SQSRecord) -> None:
        message = json.loads(record.body)
        if message.get("op") == web_calls.EXPIRE_OP:
            web_calls.expire_unconnected(message)
        elif message.get("op") == whatsapp_outbound.EXPIRE_OP:
            whatsapp_outbound.expire_unanswered(message)
        elif message.get("op") == hang_up.HANG_UP_OP:
            hang_up.handle(message)
        else:
            dialer.handle_sweep(message)

    with monitoring.deferred():
        return process_partial_response(event=event, record_handler=handle,
                                        processor=BatchProcessor(event_type=EventType.SQS))


def start_due_campaigns(_event: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"started": campaigns.start_due()}


def probe_status(_event: dict[str, Any] | None = None) -> dict[str, Any]:
    """The service status probe (``chalicelib.status``): one beat per monitor."""
    return {"beats": {beat.monitor_id: int(beat.status) for beat in status_probe.probe()}}


def call_events_batch(event: dict[str, Any]) -> PartialItemFailureResponse:
    """EventBridge events (``call.completed``) routed to SQS: fan out one delivery per matching action.

    The batch's delivery messages are sent together at the end; if that fails, every record is reported
    failed and comes back (creating deliveries is idempotent, re-queueing pending ones is harmless)."""
    batch = fanout.FanOut()

    def handle(record: SQSRecord) -> None:
        batch.add(json.loads(record.body))

    result = process_partial_response(event=event, record_handler=handle,
                                      processor=BatchProcessor(event_type=EventType.SQS))
    try:
        batch.flush()
    except Exception:
        logger.exception("queueing the batch's deliveries failed")
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event.get("Records", [])]}
    return result


@lru_cache(maxsize=1)
def _delivery_runtime() -> sender.Runtime:
    return sender.Runtime.from_env()  # one pooled HTTP client and SES client per process


def delivery_batch(event: dict[str, Any], runtime: sender.Runtime | None = None) -> PartialItemFailureResponse:
    """Send a batch of deliveries (concurrently; see ``sender``); report the ones to retry later.

    A delivery that must be retried later is held back for its delay and reported as failed; if the
    batch itself fails, every record is reported and comes back after the visibility timeout.
    """
    runtime = runtime or _delivery_runtime()
    records = event.get("Records", [])
    try:
        verdicts = sender.deliver_batch([json.loads(r["body"]) for r in records], runtime)
    except Exception:
        logger.exception("delivery batch failed", extra={"records": len(records)})
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records]}
    failed: list[PartialItemFailures] = []
    for record, verdict in zip(records, verdicts, strict=True):
        if verdict.done:
            continue
        try:
            queues.hold_back(queues.DELIVERIES, record["receiptHandle"], sender.retry_in_seconds(verdict))
        except Exception:
            logger.exception("hold back failed", extra={"message_id": record.get("messageId")})
        failed.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failed}
