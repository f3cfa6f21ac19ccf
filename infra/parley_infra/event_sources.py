"""Chalice's SQS event sources, tied to the stack's queues and set to report partial batch failures.

``@app.on_sqs_message`` becomes an ``SQS`` event on the generated ``AWS::Serverless::Function``; the
SAM transform turns it into an ``AWS::Lambda::EventSourceMapping`` at deploy time. Chalice names the
queue by a constructed ARN and has no setting for ``FunctionResponseTypes``, so each SQS event is
overridden here:

- ``Queue`` becomes the stack's queue (``Fn::GetAtt``), so the mapping is created after its queue;
- ``FunctionResponseTypes: [ReportBatchItemFailures]``: the consumers return Powertools
  ``process_partial_response`` results (``batchItemFailures``). Without it Lambda ignores that
  answer and deletes the whole batch on success, losing every message reported as failed.

Each consumer must be declared (``FunctionSetup.consumes``) with the queue Chalice subscribed it to;
an undeclared consumer, a queue that is not in ``ALL_QUEUES`` or a visibility timeout shorter than
the function's timeout (which Lambda refuses) stops synth. ``parley_infra.checks`` then verifies the
synthesized template independently.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalice.cdk import Chalice

from parley_infra.api import FunctionSetup, sam_functions
from parley_infra.queues import ParleyQueues

SAM_FUNCTION = "AWS::Serverless::Function"
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"


def queue_name_of(queue: Any) -> str:
    """The queue name at the end of an event's ``Queue`` (a plain ARN or Chalice's ``Fn::Sub`` ARN)."""
    arn = queue.get("Fn::Sub") if isinstance(queue, dict) else queue
    if not isinstance(arn, str) or ":sqs:" not in arn:
        raise ValueError(f"not an SQS queue ARN: {queue!r}")
    return arn.rsplit(":", 1)[-1]


def sqs_events(function: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """A SAM function's SQS events, by event id."""
    events = function.get("Properties", {}).get("Events") or {}
    return {event_id: event for event_id, event in events.items() if event.get("Type") == "SQS"}


def connect_queue_consumers(
    chalice_app: Chalice,
    template: Mapping[str, Any],
    setups: Mapping[str, FunctionSetup],
    queues: ParleyQueues,
) -> dict[str, list[str]]:
    """Override every SQS event of the packaged ``template``; returns function -> its event ids."""
    functions = sam_functions(chalice_app)
    connected: dict[str, list[str]] = {}
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != SAM_FUNCTION:
            continue
        setup = setups[logical_id]
        events = sqs_events(resource)
        if setup.consumes is not None and not events:
            raise ValueError(f"{logical_id} is declared to consume {setup.consumes.key!r} but has no SQS event")
        timeout = setup.timeout or int(resource["Properties"].get("Timeout", 3))
        for event_id, event in events.items():
            name = queue_name_of(event["Properties"]["Queue"])
            queue = queues.by_name(name)
            if queue is None:
                known = sorted(q.name for q in queues.queues.values())
                raise ValueError(
                    f"{logical_id} consumes {name!r}, which is not one of the stack's queues {known}: "
                    "was app.py imported with another PARLEY_QUEUE_PREFIX?"
                )
            if setup.consumes is None or setup.consumes.key != queue.spec.key:
                raise ValueError(
                    f"{logical_id} consumes {name!r}: declare it (FunctionSetup.consumes) so its role may receive"
                )
            if queue.spec.visibility_timeout < timeout:
                raise ValueError(
                    f"{name}: visibility timeout {queue.spec.visibility_timeout}s is shorter than "
                    f"{logical_id}'s timeout {timeout}s (Lambda refuses such an event source)"
                )
            function = functions[logical_id]
            function.add_property_override(f"Events.{event_id}.Properties.Queue", queue.queue.queue_arn)
            function.add_property_override(
                f"Events.{event_id}.Properties.FunctionResponseTypes", [REPORT_BATCH_ITEM_FAILURES]
            )
            if setup.reserved_concurrency is not None:  # never poll more batches than the function may run
                function.add_property_override(
                    f"Events.{event_id}.Properties.ScalingConfig", {"MaximumConcurrency": setup.reserved_concurrency}
                )
            connected.setdefault(logical_id, []).append(event_id)
    return connected
