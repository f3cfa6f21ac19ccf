"""Creates, in the embedded AWS, what infra/ deploys in AWS: tables, queues with their DLQs, the recordings
bucket, the call-events bus with its routing rules, and a verified SES sender.

Every definition comes from the production modules (models, ``queues.ALL_QUEUES``, ``event_bus.ROUTES``);
only the act of creating them lives here, so production code carries no local setup.
"""
from __future__ import annotations

import json
from email.utils import parseaddr
from typing import Any

from pynamodb.models import Model

from chalicelib import aws_clients, event_bus, queues, recordings
from chalicelib.db.models import ALL_MODELS, ttl_attribute_name
from chalicelib.delivery.contract import DeliverySettings


def create_tables(models: tuple[type[Model], ...] = ALL_MODELS) -> None:
    dynamodb = aws_clients.client("dynamodb")
    for model in models:
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        ttl_attribute = ttl_attribute_name(model)
        if ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=model.Meta.table_name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attribute},
            )


def create_queues() -> dict[str, str]:
    """Every queue with its DLQ; returns queue key -> ARN."""
    sqs = aws_clients.client("sqs")
    arns: dict[str, str] = {}
    for spec in queues.ALL_QUEUES:
        dlq = sqs.create_queue(QueueName=queues.dlq_name(spec))["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = sqs.create_queue(QueueName=queues.queue_name(spec), Attributes={
            "VisibilityTimeout": str(spec.visibility_timeout),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn,
                                         "maxReceiveCount": str(spec.max_receive_count)}),
        })["QueueUrl"]
        arns[spec.key] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return arns


def create_bucket() -> None:
    s3 = recordings.s3_client()
    try:
        s3.create_bucket(Bucket=recordings.bucket_name())
    except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        pass


def create_bus() -> None:
    events = aws_clients.client("events")
    try:
        events.create_event_bus(Name=event_bus.bus_name())
    except events.exceptions.ResourceAlreadyExistsException:
        pass


def create_routes(queue_arns: dict[str, str]) -> None:
    """``event_bus.ROUTES``' rules on the bus, each targeting its queue."""
    events = aws_clients.client("events")
    bus = event_bus.bus_name()
    for suffix, (pattern, queue_key) in event_bus.ROUTES.items():
        name = f"{bus}-{suffix}"
        events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern), State="ENABLED")
        events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": queue_key, "Arn": queue_arns[queue_key]}])


def verify_sender() -> None:
    """SES (moto too) sends only from a verified identity: verify the configured sender."""
    aws_clients.client("ses").verify_email_identity(EmailAddress=parseaddr(DeliverySettings.from_env().ses_sender)[1])


def create_all(*, with_queues: bool = True) -> dict[str, Any]:
    """Everything a local stack needs; returns the queue ARNs (empty without queues)."""
    create_tables()
    arns = create_queues() if with_queues else {}
    create_bucket()
    create_bus()
    if arns:
        create_routes(arns)
    verify_sender()
    return arns
