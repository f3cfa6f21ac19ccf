"""Parley's own synth-time checks of the synthesized templates, run like cdk-nag (a validation plugin).

``Parley-SQS-PartialBatch``: every SQS event source (a SAM function's ``SQS`` event or an
``AWS::Lambda::EventSourceMapping`` reading a queue) has ``FunctionResponseTypes:
[ReportBatchItemFailures]``. Parley's consumers answer with ``batchItemFailures``; a mapping without
that setting ignores the answer and deletes every message of a successful batch, including the ones
the handler asked to see again. ``app.synth()`` fails with a report when a consumer lacks it.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import (
    App,
    IPolicyValidationContext,
    IPolicyValidationPlugin,
    PolicyValidationPluginReport,
    PolicyViolatingResource,
    PolicyViolation,
    Validations,
)

PARTIAL_BATCH_RULE = "Parley-SQS-PartialBatch"
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"


def _is_sqs_arn(value: Any, resources: Mapping[str, Any]) -> bool:
    """Whether an ``EventSourceArn`` names an SQS queue (of this template or by ARN)."""
    if isinstance(value, dict):
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            target_id = target[0] if isinstance(target, list) else str(target).split(".")[0]
            return resources.get(target_id, {}).get("Type") == "AWS::SQS::Queue"
        if "Fn::Sub" in value:
            sub = value["Fn::Sub"]
            return _is_sqs_arn(sub[0] if isinstance(sub, list) else sub, resources)
        if "Fn::Join" in value:
            return any(_is_sqs_arn(part, resources) for part in value["Fn::Join"][1])
        return False
    return isinstance(value, str) and ":sqs:" in value


def _reports_item_failures(properties: Mapping[str, Any]) -> bool:
    types = properties.get("FunctionResponseTypes")
    return isinstance(types, list) and REPORT_BATCH_ITEM_FAILURES in types


def sqs_sources_without_partial_batch(template: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(logical id, location) of each SQS event source lacking ``ReportBatchItemFailures``."""
    resources = template.get("Resources", {})
    for logical_id, resource in resources.items():
        properties = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function":
            for event_id, event in (properties.get("Events") or {}).items():
                if event.get("Type") == "SQS" and not _reports_item_failures(event.get("Properties") or {}):
                    yield logical_id, f"Properties/Events/{event_id}/Properties/FunctionResponseTypes"
        elif (
            resource.get("Type") == "AWS::Lambda::EventSourceMapping"
            and _is_sqs_arn(properties.get("EventSourceArn"), resources)
            and not _reports_item_failures(properties)
        ):
            yield logical_id, "Properties/FunctionResponseTypes"


@jsii.implements(IPolicyValidationPlugin)
class ParleyChecks:
    """The validation plugin; register it with ``enable_checks``."""

    @property
    def name(self) -> str:
        return "parley-checks"

    @property
    def version(self) -> str:
        return "1.0.0"

    @property
    def rule_ids(self) -> list[str]:
        return [PARTIAL_BATCH_RULE]

    def validate(self, context: IPolicyValidationContext) -> PolicyValidationPluginReport:
        violating = [
            PolicyViolatingResource(resource_logical_id=logical_id, template_path=path, locations=[location])
            for path in context.template_paths
            for logical_id, location in sqs_sources_without_partial_batch(json.loads(Path(path).read_text()))
        ]
        violations = (
            [
                PolicyViolation(
                    rule_name=PARTIAL_BATCH_RULE,
                    description=(
                        "An SQS event source does not report batch item failures: the consumer's "
                        "batchItemFailures answer would be ignored and failed messages deleted."
                    ),
                    fix="Set FunctionResponseTypes: [ReportBatchItemFailures] (parley_infra.event_sources).",
                    severity="error",
                    violating_resources=violating,
                )
            ]
            if violating
            else []
        )
        return PolicyValidationPluginReport(success=not violations, violations=violations)


def enable_checks(app: App) -> None:
    """Run Parley's checks on every template of ``app`` at synth time."""
    Validations.of(app).add_plugins(ParleyChecks())
