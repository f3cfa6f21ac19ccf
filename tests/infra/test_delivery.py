"""Post-call delivery in the synthesized stack: the call.completed rule and its queue policy, the two
consumers, the DLQ alarms, the delivery worker's (and fan-out's, API's, streaming task's) permissions, the
delivery environment, and the delivery settings' validation.

Everything reads the session's stack (``synthesized``; its only non-default setting is ``sesSender``) or
builds small constructs without Chalice packaging: no extra full synth.
"""
from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template

from chalicelib import event_bus, recordings
from chalicelib.db.models import ALL_MODELS, Delivery, PhoneNumber, PostCallAction, RateCounter
from chalicelib.queues import CALL_EVENTS, DELIVERIES, QueueSpec
from parley_infra.delivery import (
    CALL_EVENTS_WORKER_TIMEOUT_S,
    DELIVERY_TIMEOUT_S,
    DELIVERY_WORKER_TIMEOUT_S,
    allow_email_deliveries,
    delivery_environment,
    event_pattern,
    ses_identity_arns,
)
from parley_infra.permissions import QUEUE_CONSUME, QUEUE_SEND, SECRET_CONTEXT_KEY
from parley_infra.queues import queue_names
from parley_infra.settings import DeliverySettings, StageSettings
from parley_infra.streaming import EVENT_SOURCE, RECORDING_PREFIXES
from tests.infra.conftest import SES_SENDER, Synthesized
from tests.infra.helpers import (
    SAM_FUNCTION,
    as_list,
    function_roles,
    logical_id,
    resolve_arn_parts,
    resources,
    role_policies,
    table_arn_target,
    table_resource,
)

DELIVERY_VARIABLES = ("PARLEY_DELIVERY_TIMEOUT_S", "PARLEY_DELIVERY_ALLOWED_NETWORKS", "PARLEY_SES_SENDER")
DELIVERY_FUNCTIONS = ("APIHandler", "CallEventsWorker", "DeliveryWorker")
EVENT_PUTTERS = ("APIHandler", "DialerWorker")
"""Lambdas that announce calls ending without media (carrier status callback, dialer)."""
HANDLERS = {
    "CallEventsWorker": ("call_events_worker", "call-events-worker"),
    "DeliveryWorker": ("delivery_worker", "delivery-worker"),
}
"""Chalice's logical id -> (app.py handler, function name suffix)."""
SUBSTITUTIONS = {"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012"}


def queue_ids(synthesized: Synthesized, spec: QueueSpec) -> tuple[str, str]:
    """(queue logical id, DLQ logical id)."""
    name, dlq = queue_names(spec, synthesized.stack.settings.queue_prefix)
    by_name = {q["Properties"]["QueueName"]: k for k, q in resources(synthesized, "AWS::SQS::Queue").items()}
    return by_name[name], by_name[dlq]


def arn(logical: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical, "Arn"]}


def the_rule(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    rules = {
        k: r for k, r in resources(synthesized, "AWS::Events::Rule").items() if "EventPattern" in r["Properties"]
    }
    assert len(rules) == 1, list(rules)
    return next(iter(rules.items()))


def role_of(synthesized: Synthesized, function: str) -> list[dict[str, Any]]:
    return role_policies(synthesized, function_roles(synthesized)[function])


def environment(synthesized: Synthesized, function: str) -> dict[str, Any]:
    return resources(synthesized, SAM_FUNCTION)[function]["Properties"]["Environment"]["Variables"]


def table_access(statements: list[dict[str, Any]], synthesized: Synthesized) -> dict[type, set[str]]:
    tables = {table_resource(synthesized, model)[0]: model for model in ALL_MODELS}
    access: dict[type, set[str]] = {}
    for statement in statements:
        actions = [a for a in as_list(statement["Action"]) if a.startswith("dynamodb:")]
        for resource in as_list(statement["Resource"]) if actions else []:
            table_id, _ = table_arn_target(resource, tables)
            access.setdefault(tables[table_id], set()).update(actions)
    return access


READ = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:DescribeTable"}
READ_WRITE = READ | {
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
}


# --- the rule and its queue -------------------------------------------------------------------------


def test_rule_routes_call_completed_from_the_calls_bus_to_the_call_events_queue(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    _, rule = the_rule(synthesized)
    props = rule["Properties"]
    assert props["EventBusName"] == {"Ref": logical_id(stack, stack.streaming.bus)}
    assert props["EventPattern"] == {"source": ["parley.calls"], "detail-type": ["call.completed"]}
    assert props["Name"] == stack.settings.resource_name("call-completed")
    assert props["State"] == "ENABLED"
    queue_id, dlq_id = queue_ids(synthesized, CALL_EVENTS)
    (target,) = props["Targets"]
    assert target["Arn"] == arn(queue_id)
    assert target["DeadLetterConfig"] == {"Arn": arn(dlq_id)}  # undeliverable events reach the alarmed DLQ
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}
    assert "Input" not in target and "InputPath" not in target  # the consumer reads the whole event


def test_rules_are_the_apps_routes_and_match_what_it_puts(synthesized: Synthesized) -> None:
    from chalicelib.domain.call_completed import DETAIL_TYPE

    (pattern, queue_key) = event_bus.ROUTES["call-completed"]
    assert set(event_bus.ROUTES) == {"call-completed"}  # one rule per route (the_rule checks there is one)
    assert the_rule(synthesized)[1]["Properties"]["EventPattern"] == pattern
    assert queue_key == CALL_EVENTS.key
    assert pattern == {"source": [event_bus.SOURCE], "detail-type": [DETAIL_TYPE]}
    assert EVENT_SOURCE == event_bus.SOURCE  # the streaming service announces with the same source
    with pytest.raises(ValueError, match="not supported"):
        event_pattern({"source": ["parley.calls"], "account": ["123456789012"]})


def test_only_the_rule_may_send_to_the_call_events_queue_and_its_dlq(synthesized: Synthesized) -> None:
    rule_id, _ = the_rule(synthesized)
    call_events_ids = set(queue_ids(synthesized, CALL_EVENTS))
    allows: dict[str, list[dict[str, Any]]] = {}
    for policy in resources(synthesized, "AWS::SQS::QueuePolicy").values():
        (queue,) = policy["Properties"]["Queues"]
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        allows[queue["Ref"]] = [s for s in statements if s["Effect"] == "Allow"]
    for queue_id, statements in allows.items():
        if queue_id not in call_events_ids:
            assert statements == [], queue_id
            continue
        (statement,) = statements
        assert statement["Principal"] == {"Service": "events.amazonaws.com"}
        assert "sqs:SendMessage" in as_list(statement["Action"])
        assert not [a for a in as_list(statement["Action"]) if a.startswith(("sqs:Receive", "sqs:Delete"))]
        assert statement["Resource"] == arn(queue_id)
        assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": arn(rule_id)}}
    assert call_events_ids <= set(allows)


@pytest.mark.parametrize("spec", [CALL_EVENTS, DELIVERIES], ids=lambda s: s.key)
def test_new_queues_have_their_spec_and_an_alarmed_dlq(synthesized: Synthesized, spec: QueueSpec) -> None:
    queue_id, dlq_id = queue_ids(synthesized, spec)
    queue = synthesized.template_json["Resources"][queue_id]["Properties"]
    assert queue["VisibilityTimeout"] == spec.visibility_timeout
    assert queue["RedrivePolicy"] == {"deadLetterTargetArn": arn(dlq_id), "maxReceiveCount": spec.max_receive_count}
    synthesized.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": f"{queue_names(spec, synthesized.stack.settings.queue_prefix)[1]}-not-empty",
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}],
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 0,
        },
    )
    spec_values = (CALL_EVENTS.visibility_timeout, DELIVERIES.visibility_timeout, DELIVERIES.max_receive_count)
    assert spec_values == (60, 120, 50)


# --- the consumers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "spec", "timeout"),
    [
        ("CallEventsWorker", CALL_EVENTS, CALL_EVENTS_WORKER_TIMEOUT_S),
        ("DeliveryWorker", DELIVERIES, DELIVERY_WORKER_TIMEOUT_S),
    ],
)
def test_consumer_reads_its_queue_in_batches_of_10_reporting_item_failures(
    synthesized: Synthesized, function: str, spec: QueueSpec, timeout: int
) -> None:
    props = resources(synthesized, SAM_FUNCTION)[function]["Properties"]
    (event,) = [e for e in props["Events"].values() if e["Type"] == "SQS"]
    assert event["Properties"]["Queue"] == arn(queue_ids(synthesized, spec)[0])
    assert event["Properties"]["BatchSize"] == 10
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["Timeout"] == timeout < spec.visibility_timeout
    handler, name = HANDLERS[function]
    assert props["Handler"] == f"app.{handler}"
    assert props["FunctionName"] == synthesized.stack.settings.resource_name(name)
    assert "VpcConfig" not in props  # outbound HTTPS goes straight to the internet


# --- the delivery worker's role ---------------------------------------------------------------------


def test_delivery_worker_opens_channel_credentials_only_with_the_account_context(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    kms = [s for s in role_of(synthesized, "DeliveryWorker") if any(a.startswith("kms:") for a in as_list(s["Action"]))]
    (secrets,) = [s for s in kms if s["Resource"] == arn(logical_id(stack, stack.keys.secrets))]
    assert secrets["Action"] == "kms:Decrypt"  # opens; never seals
    assert secrets["Condition"] == {
        "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": [SECRET_CONTEXT_KEY]},
        "Null": {"kms:EncryptionContextKeys": "false"},
    }
    # Every other key use is the table key, through DynamoDB.
    for statement in kms:
        if statement is not secrets:
            assert statement["Resource"] == arn(logical_id(stack, stack.keys.data))
            assert "kms:ViaService" in statement["Condition"]["StringEquals"]


def test_delivery_worker_sends_email_only_as_the_configured_sender(synthesized: Synthesized) -> None:
    statements = role_of(synthesized, "DeliveryWorker")
    (ses,) = [s for s in statements if any(a.startswith("ses:") for a in as_list(s["Action"]))]
    assert sorted(as_list(ses["Action"])) == ["ses:SendEmail", "ses:SendRawEmail"]
    assert ses["Condition"] == {"StringEquals": {"ses:FromAddress": "no-reply@mail.example.com"}}
    identities = [resolve_arn_parts(r, SUBSTITUTIONS) for r in as_list(ses["Resource"])]
    prefix = "arn:aws:ses:eu-west-1:123456789012:identity/"
    assert identities == [f"{prefix}no-reply@mail.example.com", f"{prefix}mail.example.com", f"{prefix}example.com"]


def test_delivery_worker_queues_its_own_messages_and_dead_letters_them_itself(synthesized: Synthesized) -> None:
    queue_id, dlq_id = queue_ids(synthesized, DELIVERIES)
    sqs = [s for s in role_of(synthesized, "DeliveryWorker") if any(a.startswith("sqs:") for a in as_list(s["Action"]))]
    assert sorted((tuple(sorted(as_list(s["Action"]))), json.dumps(s["Resource"])) for s in sqs) == sorted(
        [
            (tuple(sorted(QUEUE_CONSUME)), json.dumps(arn(queue_id))),  # incl. ChangeMessageVisibility (hold back)
            (tuple(sorted(QUEUE_SEND)), json.dumps(arn(dlq_id))),  # SendMessage to its DLQ, nothing else
        ]
    )
    # hold_back: GetQueueUrl of its own queue (it may not send there), then ChangeMessageVisibility.
    assert {"sqs:ChangeMessageVisibility", "sqs:GetQueueUrl"} <= set(QUEUE_CONSUME)


def test_delivery_worker_reads_and_updates_actions_and_owns_deliveries(synthesized: Synthesized) -> None:
    access = table_access(role_of(synthesized, "DeliveryWorker"), synthesized)
    assert access == {Delivery: READ_WRITE, PostCallAction: READ | {"dynamodb:UpdateItem"},
                      RateCounter: {"dynamodb:UpdateItem"}}  # the accounts' daily email quota


def test_delivery_worker_has_no_wildcards_and_nothing_else(synthesized: Synthesized) -> None:
    prefixes = set()
    for statement in role_of(synthesized, "DeliveryWorker"):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            assert "*" not in action
            prefixes.add(action.split(":")[0])
        for resource in as_list(statement["Resource"]):
            assert "*" not in json.dumps(resource), statement
    assert prefixes == {"dynamodb", "kms", "sqs", "ses", "logs"}


# --- the fan-out, the API and the announcers --------------------------------------------------------


def test_call_events_worker_reads_actions_creates_deliveries_and_queues_them(synthesized: Synthesized) -> None:
    statements = role_of(synthesized, "CallEventsWorker")
    assert table_access(statements, synthesized) == {PostCallAction: READ, Delivery: READ_WRITE}
    queue_id, _ = queue_ids(synthesized, DELIVERIES)
    (send,) = [s for s in statements if "sqs:SendMessage" in as_list(s["Action"])]
    assert send["Resource"] == arn(queue_id)
    actions = {a for s in statements for a in as_list(s["Action"])}
    assert not {a for a in actions if a.startswith(("ses:", "events:", "secretsmanager:"))}
    secrets_key = arn(logical_id(synthesized.stack, synthesized.stack.keys.secrets))
    assert not [s for s in statements if s["Resource"] == secrets_key]  # it never opens credentials


def test_api_handler_replays_and_sends_test_events(synthesized: Synthesized) -> None:
    statements = role_of(synthesized, "APIHandler")
    queue_id, _ = queue_ids(synthesized, DELIVERIES)
    (send,) = [s for s in statements if "sqs:SendMessage" in as_list(s["Action"])]
    assert arn(queue_id) in as_list(send["Resource"])
    (ses,) = [s for s in statements if "ses:SendEmail" in as_list(s["Action"])]
    assert ses["Condition"] == {"StringEquals": {"ses:FromAddress": "no-reply@mail.example.com"}}
    assert {PostCallAction, Delivery} <= set(table_access(statements, synthesized))


def test_api_handler_queries_an_actions_undelivered_deliveries_through_their_sparse_index(
        synthesized: Synthesized) -> None:
    _, table = table_resource(synthesized, Delivery)
    [index] = [i for i in table["Properties"]["GlobalSecondaryIndexes"] if i["IndexName"] == "undelivered-by-action"]
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["undelivered_key", "finished_at"]
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    tables = {table_resource(synthesized, model)[0]: model for model in ALL_MODELS}
    queried = {table_arn_target(resource, tables)[1]
               for s in role_of(synthesized, "APIHandler") if "dynamodb:Query" in as_list(s["Action"])
               for resource in as_list(s["Resource"])}
    assert "undelivered-by-action" in queried


def test_only_the_announcers_put_events_on_the_calls_bus(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    bus = arn(logical_id(stack, stack.streaming.bus))
    for function in function_roles(synthesized):
        puts = [s for s in role_of(synthesized, function) if "events:PutEvents" in as_list(s["Action"])]
        variables = environment(synthesized, function)
        if function in EVENT_PUTTERS:
            assert puts == [{"Action": "events:PutEvents", "Effect": "Allow", "Resource": bus}], function
            assert variables["PARLEY_EVENT_BUS_NAME"] == {"Ref": logical_id(stack, stack.streaming.bus)}
        else:
            assert puts == [] and "PARLEY_EVENT_BUS_NAME" not in variables, function


def test_streaming_task_reads_actions_and_numbers_and_presigns_recordings(synthesized: Synthesized) -> None:
    from tests.infra.test_streaming import task_role_statements

    stack = synthesized.stack
    statements = task_role_statements(synthesized.template_json)
    access = table_access(statements, synthesized)
    # Least privilege: the actions' config by Query and a number's digits by GetItem, attribute-limited
    # (tests/infra/test_streaming.py checks the attribute conditions).
    assert access[PostCallAction] == {"dynamodb:Query"} and access[PhoneNumber] == {"dynamodb:GetItem"}
    (get,) = [s for s in statements if "s3:GetObject" in as_list(s["Action"])]
    assert get["Action"] == "s3:GetObject"
    bucket = arn(logical_id(stack, stack.streaming.recordings))
    assert get["Resource"] == [{"Fn::Join": ["", [bucket, f"/{prefix}*"]]} for prefix in RECORDING_PREFIXES]
    # The prefixes are where chalicelib.recordings puts a call's files.
    assert recordings.recording_key(1, 2).startswith(RECORDING_PREFIXES[0])
    assert recordings.transcript_key(1, 2).startswith(RECORDING_PREFIXES[1])
    # Presigned GETs of SSE-KMS objects need the recordings key's Decrypt, through S3.
    (key,) = [s for s in statements if s["Resource"] == arn(logical_id(stack, stack.keys.recordings))]
    assert "kms:Decrypt" in as_list(key["Action"]) and "s3." in json.dumps(key["Condition"])


# --- environment ------------------------------------------------------------------------------------


def test_delivery_functions_get_the_delivery_settings(synthesized: Synthesized) -> None:
    for function in resources(synthesized, SAM_FUNCTION):
        variables = environment(synthesized, function)
        if function not in DELIVERY_FUNCTIONS:
            assert not {k for k in variables if k.startswith(("PARLEY_DELIVERY_", "PARLEY_SES_"))}, function
            continue
        assert variables["PARLEY_DELIVERY_TIMEOUT_S"] == str(DELIVERY_TIMEOUT_S) == "10"
        assert variables["PARLEY_DELIVERY_ALLOWED_NETWORKS"] == ""  # deliveryAllowedNetworks absent: public only
        assert variables["PARLEY_SES_SENDER"] == SES_SENDER
        assert "PARLEY_DELIVERY_RETRY_SCHEDULE" not in variables  # the code's default schedule
    secrets_key = arn(logical_id(synthesized.stack, synthesized.stack.keys.secrets))
    assert environment(synthesized, "DeliveryWorker")["PARLEY_KMS_KEY_ID"] == secrets_key
    assert "PARLEY_KMS_KEY_ID" not in environment(synthesized, "CallEventsWorker")


def test_delivery_environment_follows_the_settings() -> None:
    assert delivery_environment(DeliverySettings()) == {
        "PARLEY_DELIVERY_TIMEOUT_S": "10",
        "PARLEY_DELIVERY_ALLOWED_NETWORKS": "",
        "PARLEY_SES_SENDER": "",
    }
    custom = DeliverySettings(
        ses_sender="ops@example.com", allowed_networks=("10.0.0.0/8", "fd00::/8"), retry_schedule_s=(5, 60, 3600)
    )
    assert delivery_environment(custom) == {
        "PARLEY_DELIVERY_TIMEOUT_S": "10",
        "PARLEY_DELIVERY_ALLOWED_NETWORKS": "10.0.0.0/8,fd00::/8",
        "PARLEY_SES_SENDER": "ops@example.com",
        "PARLEY_DELIVERY_RETRY_SCHEDULE": "5,60,3600",
    }


def test_the_code_reads_what_infra_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.delivery.contract import DeliverySettings as AppDeliverySettings

    environment = delivery_environment(
        DeliverySettings(ses_sender=SES_SENDER, allowed_networks=("10.1.0.0/16",), retry_schedule_s=(5, 300))
    )
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    app = AppDeliverySettings.from_env()
    assert (app.timeout_s, app.allowed_networks, app.retry_schedule_s, app.ses_sender) == (
        10.0,
        ("10.1.0.0/16",),
        (5.0, 300.0),
        SES_SENDER,
    )


def test_default_retry_schedule_passes_the_deployment_checks() -> None:
    from chalicelib.delivery.contract import DEFAULT_RETRY_SCHEDULE_S

    DeliverySettings(retry_schedule_s=tuple(int(s) for s in DEFAULT_RETRY_SCHEDULE_S))


def test_without_a_sender_no_role_may_send_email() -> None:
    def probe(settings: DeliverySettings) -> tuple[bool, Template]:
        stack = cdk.Stack(cdk.App(), "Probe")
        role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        return allow_email_deliveries(role, settings), Template.from_stack(stack)

    assert ses_identity_arns(DeliverySettings()) == []
    granted, template = probe(DeliverySettings())
    assert granted is False
    template.resource_count_is("AWS::IAM::Policy", 0)
    granted, template = probe(DeliverySettings(ses_sender="Acme <hello@acme.io>"))
    assert granted is True
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    Match.object_like(
                        {
                            "Action": ["ses:SendEmail", "ses:SendRawEmail"],
                            "Condition": {"StringEquals": {"ses:FromAddress": "hello@acme.io"}},
                        }
                    )
                ]
            }
        },
    )


# --- settings ---------------------------------------------------------------------------------------


def test_delivery_settings_from_context() -> None:
    default = StageSettings.from_context(cdk.App(context={"stage": "dev"}).node).delivery
    assert default == DeliverySettings() and default.ses_sender is None and default.allowed_networks == ()
    custom = StageSettings.from_context(
        cdk.App(
            context={
                "sesSender": "Acme Calls <calls@acme.io>",
                "deliveryAllowedNetworks": "10.0.0.0/8, 192.168.0.0/16",  # -c values are strings
                "deliveryRetrySchedule": [5, "300", 1800],  # cdk.json values may be lists
            }
        ).node
    ).delivery
    assert (custom.sender_address, custom.sender_domain) == ("calls@acme.io", "acme.io")
    assert custom.allowed_networks == ("10.0.0.0/8", "192.168.0.0/16")
    assert custom.retry_schedule_s == (5, 300, 1800)
    bare = StageSettings.from_context(
        cdk.App(context={"sesSender": "calls@acme.io", "deliveryAllowedNetworks": ""}).node
    )
    assert bare.delivery.sender_address == "calls@acme.io" and bare.delivery.allowed_networks == ()


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"sesSender": "Acme"}, "sesSender"),
        ({"sesSender": "Acme <calls@acme>"}, "sesSender"),
        ({"sesSender": "Acme, Inc <calls@acme.io>"}, "sesSender"),  # a comma makes it an address list
        ({"sesSender": '"Acme" <calls@acme.io>'}, "sesSender"),
        ({"sesSender": "calls@Acme.io"}, "sesSender"),
        ({"sesSender": 42}, "sesSender"),
        ({"deliveryAllowedNetworks": "10.0.0.0/33"}, "not a CIDR"),
        ({"deliveryAllowedNetworks": "10.0.0.1/8"}, "not a CIDR"),  # host bits set: a typo
        ({"deliveryAllowedNetworks": "internal"}, "not a CIDR"),
        ({"deliveryAllowedNetworks": "0.0.0.0/0"}, "every address"),
        ({"deliveryAllowedNetworks": "127.0.0.0/8"}, "loopback or link-local"),
        ({"deliveryAllowedNetworks": "169.254.169.254/32"}, "loopback or link-local"),
        ({"deliveryAllowedNetworks": "10.0.0.0/8,fe80::/64"}, "loopback or link-local"),
        ({"deliveryAllowedNetworks": {"cidr": "10.0.0.0/8"}}, "comma-separated"),
        ({"deliveryRetrySchedule": "5,soon"}, "whole seconds"),
        ({"deliveryRetrySchedule": "5,0"}, "each delay"),
        ({"deliveryRetrySchedule": "86400"}, "12 hours"),
        ({"deliveryRetrySchedule": ",".join(["60"] * 49)}, "max_receive_count"),
        ({"deliveryRetrySchedule": ",".join(["43200"] * 28)}, "keeps a message"),
    ],
)
def test_delivery_settings_refuse_bad_values(context: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StageSettings.from_context(cdk.App(context={"stage": "dev", **context}).node)


def test_delivery_settings_refuse_an_empty_schedule() -> None:
    with pytest.raises(ValueError, match="at least one"):
        DeliverySettings(retry_schedule_s=())
