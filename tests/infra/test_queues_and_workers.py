"""The synthesized stack's asynchronous side: queues and DLQs from ``chalicelib.queues``, the SQS
consumers' event sources, the campaign schedule, the Lambdas' new environment, the stream-token
secret, queue permissions and the DLQ alarms."""
from __future__ import annotations

import copy
import json
import os
import re
from typing import Any

import pytest

from chalicelib.db.models import Campaign
from chalicelib.queues import ALL_QUEUES, CALL_EVENTS, CAMPAIGN_OPS, DELIVERIES, DIALER, QueueSpec
from chalicelib.telephony.twilio import TwilioConfig, status_callback_url
from parley_infra.permissions import QUEUE_CONSUME, QUEUE_SEND
from parley_infra.queues import queue_names
from parley_infra.settings import DEFAULT_TWILIO_API_URL
from parley_infra.status import QUEUE_ATTRIBUTES
from tests.infra.conftest import Synthesized
from tests.infra.helpers import (
    SAM_FUNCTION,
    as_list,
    function_roles,
    logical_id,
    references,
    resolve_arn_parts,
    resources,
    role_policies,
    table_resource,
)

CONSUMERS = {
    "DialerWorker": (DIALER, 10),
    "CampaignOpsWorker": (CAMPAIGN_OPS, 5),
    "CallEventsWorker": (CALL_EVENTS, 10),
    "DeliveryWorker": (DELIVERIES, 10),
}
"""Function -> (queue it consumes, batch size), as ``app.py`` declares them."""

APP_FUNCTIONS = ("APIHandler", "DialerWorker", "CampaignOpsWorker", "CampaignScheduler")
CALL_PLACERS = ("APIHandler", "DialerWorker")
STREAM_TOKEN_READERS = (*CALL_PLACERS, "WebsocketConnect")
"""Functions that read the stream-token secret: call placers sign stream tokens (and the API handler monitor
tokens); the monitoring WebSocket's $connect checks monitor and streaming-task tokens."""
SECRET_OPENERS = (*CALL_PLACERS, "DeliveryWorker", "CampaignOpsWorker")
"""Functions that get ``PARLEY_KMS_KEY_ID``: call placers (carrier credentials), the delivery worker
(channel credentials), campaign operations (an unanswered WhatsApp call's expiry hangs it up on Graph)."""

QUEUE_SENDS: dict[str, tuple[QueueSpec, ...]] = {
    "APIHandler": (DIALER, CAMPAIGN_OPS, DELIVERIES),
    "DialerWorker": (DIALER, CAMPAIGN_OPS),
    "CampaignOpsWorker": (DIALER, CAMPAIGN_OPS),
    "CampaignScheduler": (DIALER, CAMPAIGN_OPS),
    "CallEventsWorker": (DELIVERIES,),
    "DeliveryWorker": (),
    "ApiKeyAuth": (),
    "WebsocketConnect": (),
    "WebsocketMessage": (),
    "WebsocketDisconnect": (),
    "StatusProbe": (),  # it reads queue depths only (tests/infra/test_status.py)
}
"""Function -> the (non-dead-letter) queues it may send to. call-events is fed by the bus's rule only."""


def names(synthesized: Synthesized, spec: QueueSpec) -> tuple[str, str]:
    return queue_names(spec, synthesized.stack.settings.queue_prefix)


def queue_by_name(synthesized: Synthesized, name: str) -> tuple[str, dict[str, Any]]:
    queues = resources(synthesized, "AWS::SQS::Queue").items()
    matches = [(k, v) for k, v in queues if v["Properties"]["QueueName"] == name]
    assert len(matches) == 1, f"expected one queue named {name}"
    return matches[0]


def queue_arn(synthesized: Synthesized, spec: QueueSpec) -> dict[str, Any]:
    return {"Fn::GetAtt": [queue_by_name(synthesized, names(synthesized, spec)[0])[0], "Arn"]}


def environment(synthesized: Synthesized, function: str) -> dict[str, Any]:
    return resources(synthesized, SAM_FUNCTION)[function]["Properties"]["Environment"]["Variables"]


# --- queues -------------------------------------------------------------------------------------


def test_queue_names_are_the_apps(synthesized: Synthesized, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.queues import dlq_name, queue_name

    monkeypatch.setenv("PARLEY_QUEUE_PREFIX", synthesized.stack.settings.queue_prefix)
    for spec in ALL_QUEUES:
        assert names(synthesized, spec) == (queue_name(spec), dlq_name(spec))


def test_one_queue_and_one_dlq_per_spec(synthesized: Synthesized) -> None:
    expected = {name for spec in ALL_QUEUES for name in names(synthesized, spec)}
    actual = {q["Properties"]["QueueName"] for q in resources(synthesized, "AWS::SQS::Queue").values()}
    assert actual == expected
    assert len(expected) == 2 * len(ALL_QUEUES)


@pytest.mark.parametrize("spec", ALL_QUEUES, ids=lambda s: s.key)
def test_queue_visibility_and_redrive_follow_the_spec(synthesized: Synthesized, spec: QueueSpec) -> None:
    name, dlq = names(synthesized, spec)
    _, queue = queue_by_name(synthesized, name)
    dlq_id, dead_letters = queue_by_name(synthesized, dlq)
    assert queue["Properties"]["VisibilityTimeout"] == spec.visibility_timeout
    assert queue["Properties"]["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": spec.max_receive_count,
    }
    assert "RedrivePolicy" not in dead_letters["Properties"]
    for props in (queue["Properties"], dead_letters["Properties"]):
        assert props["SqsManagedSseEnabled"] is True
        assert props["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_every_queue_refuses_requests_without_tls(synthesized: Synthesized) -> None:
    policies = resources(synthesized, "AWS::SQS::QueuePolicy").values()
    for queue_id in resources(synthesized, "AWS::SQS::Queue"):
        (policy,) = [p for p in policies if {"Ref": queue_id} in p["Properties"]["Queues"]]
        # Only the call-events queue and its DLQ also admit EventBridge (test_delivery checks that statement).
        (statement,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert statement["Action"] == "sqs:*"
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize("spec", ALL_QUEUES, ids=lambda s: s.key)
def test_each_dlq_has_an_alarm_on_visible_messages(synthesized: Synthesized, spec: QueueSpec) -> None:
    dlq_id, _ = queue_by_name(synthesized, names(synthesized, spec)[1])
    alarms = [
        alarm["Properties"]
        for alarm in resources(synthesized, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("Dimensions")
        == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}]
    ]
    (alarm,) = alarms
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["EvaluationPeriods"] == 1 and alarm["Period"] == 60
    assert alarm["TreatMissingData"] == "notBreaching"
    assert "AlarmActions" not in alarm  # no alarmTopicArn in the test settings


def test_only_the_dlqs_are_alarmed(synthesized: Synthesized) -> None:
    synthesized.template.resource_count_is("AWS::CloudWatch::Alarm", len(ALL_QUEUES))


# --- consumers and schedule -----------------------------------------------------------------------


def sqs_events(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        f"{function_id}.{event_id}": {"function": function_id, **event}
        for function_id, function in resources(synthesized, SAM_FUNCTION).items()
        for event_id, event in (function["Properties"].get("Events") or {}).items()
        if event["Type"] == "SQS"
    }


def test_consumers_read_their_queue_in_batches_and_report_item_failures(synthesized: Synthesized) -> None:
    events = sqs_events(synthesized)
    assert sorted(e["function"] for e in events.values()) == sorted(CONSUMERS)
    for event in events.values():
        spec, batch_size = CONSUMERS[event["function"]]
        props = event["Properties"]
        assert props["Queue"] == queue_arn(synthesized, spec)  # the stack's queue, so created before it
        assert props["BatchSize"] == batch_size
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_consumer_timeouts_fit_in_the_visibility_timeout(synthesized: Synthesized) -> None:
    functions = resources(synthesized, SAM_FUNCTION)
    for function, (spec, _) in CONSUMERS.items():
        assert functions[function]["Properties"]["Timeout"] <= spec.visibility_timeout


def test_scheduler_runs_every_minute(synthesized: Synthesized) -> None:
    schedules = {
        (function_id, json.dumps(event["Properties"]))
        for function_id, function in resources(synthesized, SAM_FUNCTION).items()
        for event in (function["Properties"].get("Events") or {}).values()
        if event["Type"] == "Schedule"
    }
    every_minute = json.dumps({"Schedule": "rate(1 minute)"})
    assert schedules == {("CampaignScheduler", every_minute), ("StatusProbe", every_minute)}
    handler = resources(synthesized, SAM_FUNCTION)["CampaignScheduler"]["Properties"]["Handler"]
    assert handler == "app.campaign_scheduler"
    assert resources(synthesized, SAM_FUNCTION)["StatusProbe"]["Properties"]["Handler"] == "app.status_probe"


def test_sam_transform_makes_mappings_with_item_failures_and_the_rule(synthesized: Synthesized) -> None:
    """What CloudFormation deploys: the SAM transform's output (needs ``aws-sam-translator``)."""
    transform = pytest.importorskip("samtranslator.translator.transform").transform

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    deployed = transform(copy.deepcopy(synthesized.template_json), {}, NoManagedPolicies())["Resources"]
    mappings = [r["Properties"] for r in deployed.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert sorted((m["FunctionName"]["Ref"], m["BatchSize"]) for m in mappings) == sorted(
        (function, batch) for function, (_, batch) in CONSUMERS.items()
    )
    for mapping in mappings:
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["EventSourceArn"] == queue_arn(synthesized, CONSUMERS[mapping["FunctionName"]["Ref"]][0])
    rules = [
        r["Properties"]
        for r in deployed.values()
        if r["Type"] == "AWS::Events::Rule" and "ScheduleExpression" in r["Properties"]
    ]
    assert {rule["ScheduleExpression"] for rule in rules} == {"rate(1 minute)"}
    assert sorted(json.dumps(t["Arn"]) for rule in rules for t in rule["Targets"]) == sorted(
        json.dumps({"Fn::GetAtt": [function, "Arn"]}) for function in ("CampaignScheduler", "StatusProbe"))


# --- environment and the stream-token secret ---------------------------------------------------------


def test_app_functions_get_the_telephony_configuration(synthesized: Synthesized) -> None:
    for function in APP_FUNCTIONS:
        variables = environment(synthesized, function)
        assert variables["PARLEY_TWILIO_API_URL"] == DEFAULT_TWILIO_API_URL
        assert variables["PARLEY_STREAMING_URL"] == synthesized.stack.resolve(synthesized.stack.streaming.url)
        assert variables["PARLEY_PUBLIC_API_URL"] == synthesized.stack.resolve(synthesized.stack.public_api_url)
    assert not {k for k in environment(synthesized, "ApiKeyAuth") if k.startswith("PARLEY_") and "URL" in k}


def test_public_api_url_is_the_stage_url_the_status_route_hangs_off(synthesized: Synthesized) -> None:
    """Twilio posts to ``status_callback_url``: the stage URL plus the app's route must be a real route."""
    (rest_api_id, rest_api) = next(iter(resources(synthesized, "AWS::Serverless::Api").items()))
    url = resolve_arn_parts(
        environment(synthesized, "APIHandler")["PARLEY_PUBLIC_API_URL"],
        {rest_api_id: "a1b2c3", "AWS::Region": "eu-west-1", "AWS::URLSuffix": "amazonaws.com"},
    )
    stage = rest_api["Properties"]["StageName"]
    assert url == f"https://a1b2c3.execute-api.eu-west-1.amazonaws.com/{stage}"
    config = TwilioConfig(api_url="", public_api_url=url, streaming_url="", stream_token_secret="")
    callback = status_callback_url(config, 7, 42)
    route = callback.removeprefix(f"https://a1b2c3.execute-api.eu-west-1.amazonaws.com/{stage}")
    paths = rest_api["Properties"]["DefinitionBody"]["paths"]
    matching = [p for p in paths if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", p), route)]
    assert matching == ["/api/v1/telephony/twilio/status/{account_id}/{call_id}"]
    assert "post" in paths[matching[0]]


def test_stream_token_secret_is_generated_and_only_its_arn_is_passed(synthesized: Synthesized) -> None:
    secret_id = logical_id(synthesized.stack, synthesized.stack.stream_token_secret)
    secret = resources(synthesized, "AWS::SecretsManager::Secret")[secret_id]
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    assert "SecretString" not in secret["Properties"]
    for function_id in resources(synthesized, SAM_FUNCTION):
        variables = environment(synthesized, function_id)
        assert "PARLEY_STREAM_TOKEN_SECRET" not in variables
        assert "resolve:secretsmanager" not in json.dumps(variables)
        if function_id in STREAM_TOKEN_READERS:
            assert variables["PARLEY_STREAM_TOKEN_SECRET_ARN"] == {"Ref": secret_id}
        else:
            assert "PARLEY_STREAM_TOKEN_SECRET_ARN" not in variables


def test_only_call_placers_may_read_the_stream_token_secret(synthesized: Synthesized) -> None:
    secret = {"Ref": logical_id(synthesized.stack, synthesized.stack.stream_token_secret)}
    for function, role_id in function_roles(synthesized).items():
        statements = [s for s in role_policies(synthesized, role_id)
                      if any(a.startswith("secretsmanager:") for a in as_list(s["Action"])) and s["Resource"] == secret]
        expected = [{"Action": "secretsmanager:GetSecretValue", "Effect": "Allow", "Resource": secret}]
        assert statements == (expected if function in STREAM_TOKEN_READERS else []), function


def test_kms_key_variable_only_where_the_role_may_use_the_key(synthesized: Synthesized) -> None:
    for function_id in resources(synthesized, SAM_FUNCTION):
        assert ("PARLEY_KMS_KEY_ID" in environment(synthesized, function_id)) == (function_id in SECRET_OPENERS)


# --- IAM ----------------------------------------------------------------------------------------


def sqs_statements(synthesized: Synthesized, role_id: str) -> list[dict[str, Any]]:
    return [
        s for s in role_policies(synthesized, role_id) if any(a.startswith("sqs:") for a in as_list(s["Action"]))
    ]


def test_sqs_permissions_name_only_the_apps_queues(synthesized: Synthesized) -> None:
    dlqs = [{"Fn::GetAtt": [queue_by_name(synthesized, names(synthesized, spec)[1])[0], "Arn"]} for spec in ALL_QUEUES]
    for function, role_id in function_roles(synthesized).items():
        statements = sqs_statements(synthesized, role_id)
        sends = [
            s
            for s in statements
            if sorted(as_list(s["Action"])) == sorted(QUEUE_SEND) and as_list(s["Resource"])[0] not in dlqs
        ]
        expected = [queue_arn(synthesized, spec) for spec in QUEUE_SENDS[function]]
        assert [r for s in sends for r in as_list(s["Resource"])] == expected, function
        assert len(sends) <= 1, function
        reads = [s for s in statements if sorted(as_list(s["Action"])) == sorted(QUEUE_ATTRIBUTES)]
        assert bool(reads) == (function == "StatusProbe"), function  # queue depths (tests/infra/test_status.py)
        consumes = [s for s in statements
                    if s not in sends and s not in reads and as_list(s["Resource"])[0] not in dlqs]
        if function in CONSUMERS:
            (statement,) = consumes
            assert sorted(as_list(statement["Action"])) == sorted(QUEUE_CONSUME)
            assert as_list(statement["Resource"]) == [queue_arn(synthesized, CONSUMERS[function][0])]
        else:
            assert consumes == [], function


def test_only_the_delivery_worker_touches_a_dlq_and_only_sends_to_its_own(synthesized: Synthesized) -> None:
    """(The status probe reads DLQs' depths: ``sqs:GetQueueAttributes``, nothing else.)"""
    dlqs = {spec.key: queue_by_name(synthesized, names(synthesized, spec)[1])[0] for spec in ALL_QUEUES}
    for function, role_id in function_roles(synthesized).items():
        touching = [
            statement
            for statement in role_policies(synthesized, role_id)
            for resource in as_list(statement["Resource"])
            if isinstance(resource, dict) and resource.get("Fn::GetAtt", [None])[0] in dlqs.values()
            and sorted(as_list(statement["Action"])) != sorted(QUEUE_ATTRIBUTES)
        ]
        if function != "DeliveryWorker":
            assert touching == [], function
            continue
        assert touching == [
            {
                "Action": list(QUEUE_SEND),
                "Effect": "Allow",
                "Resource": {"Fn::GetAtt": [dlqs[DELIVERIES.key], "Arn"]},
            }
        ]


# --- tables and dependencies ---------------------------------------------------------------------


def test_campaign_table_has_the_sparse_by_schedule_index(synthesized: Synthesized) -> None:
    _, table = table_resource(synthesized, Campaign)
    (index,) = table["Properties"]["GlobalSecondaryIndexes"]
    assert index == {
        "IndexName": "by-schedule",
        "KeySchema": [
            {"AttributeName": "schedule_bucket", "KeyType": "HASH"},
            {"AttributeName": "scheduled_at", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }
    types = {d["AttributeName"]: d["AttributeType"] for d in table["Properties"]["AttributeDefinitions"]}
    assert (types["schedule_bucket"], types["scheduled_at"]) == ("S", "N")


def test_template_has_no_dependency_cycle(synthesized: Synthesized) -> None:
    """The API handler refers to the API (its URL), so the API must not refer to the handler."""
    template = synthesized.template_json["Resources"]
    graph = {
        resource_id: (references(resource.get("Properties", {})) | set(as_list(resource.get("DependsOn", []))))
        & set(template)
        for resource_id, resource in template.items()
    }
    assert "RestAPI" in graph["APIHandler"]
    assert "APIHandler" not in graph["RestAPI"]
    visiting: set[str] = set()
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in done:
            return
        assert node not in visiting, f"dependency cycle: {' -> '.join([*path, node])}"
        visiting.add(node)
        for target in sorted(graph[node]):
            visit(target, [*path, node])
        visiting.discard(node)
        done.add(node)

    for node in sorted(graph):
        visit(node, [])


def test_api_integrations_invoke_the_handler_by_name(synthesized: Synthesized) -> None:
    (rest_api,) = resources(synthesized, "AWS::Serverless::Api").values()
    handler = resources(synthesized, SAM_FUNCTION)["APIHandler"]["Properties"]["FunctionName"]
    expected = (
        "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
        f"arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:{handler}/invocations"
    )
    from parley_infra.mcp import MCP_PATH

    integrations = [
        operation["x-amazon-apigateway-integration"]
        for path, operations in rest_api["Properties"]["DefinitionBody"]["paths"].items()
        if path != MCP_PATH  # the MCP server's own function (tests/infra/test_mcp.py)
        for operation in operations.values()
        if "x-amazon-apigateway-integration" in operation
    ]
    # CORS preflights (OPTIONS of the routes browsers call, e.g. web-calls) are answered by API Gateway itself.
    mocks = [i for i in integrations if i.get("type") == "mock"]
    uris = [i["uri"] for i in integrations if i.get("type") != "mock"]
    assert uris and all(uri == {"Fn::Sub": expected} for uri in uris)
    assert all("uri" not in mock for mock in mocks)


def test_parley_checks_find_nothing_in_the_stack(synthesized: Synthesized) -> None:
    """The same check that runs at synth (it fails synth; see test_parts for that)."""
    from parley_infra.checks import sqs_sources_without_partial_batch

    assert list(sqs_sources_without_partial_batch(synthesized.template_json)) == []
