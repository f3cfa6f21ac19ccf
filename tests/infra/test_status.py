"""The status probe's deployment: an every-minute schedule, the beats table, and a role that reads exactly what
its checks need and writes only beats."""
from __future__ import annotations

from chalicelib.db.models import Sequence, StatusBeat
from chalicelib.queues import CALL_EVENTS, DELIVERIES, DIALER
from tests.infra.conftest import Synthesized
from tests.infra.helpers import (
    SAM_FUNCTION,
    as_list,
    function_roles,
    logical_id,
    references,
    resources,
    role_policies,
    table_resource,
)


def _probe(synthesized: Synthesized) -> dict:
    return resources(synthesized, SAM_FUNCTION)["StatusProbe"]["Properties"]


def test_the_probe_runs_every_minute_with_a_bounded_timeout(synthesized: Synthesized) -> None:
    probe = _probe(synthesized)
    (event,) = probe["Events"].values()
    assert event["Type"] == "Schedule" and event["Properties"]["Schedule"] == "rate(1 minute)"
    assert probe["Timeout"] == 30


def test_the_beats_table_expires_beats(synthesized: Synthesized) -> None:
    _, table = table_resource(synthesized, StatusBeat)
    assert table["Properties"]["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_the_probe_knows_its_key_secret_the_target_group_and_what_it_calls(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    variables = _probe(synthesized)["Environment"]["Variables"]
    assert references(variables["PARLEY_STATUS_KEY_SECRET_ARN"]) == {logical_id(stack, stack.status_key_secret)}
    assert stack.resolve(stack.streaming.target_group.target_group_arn) == variables[
        "PARLEY_STREAMING_TARGET_GROUP_ARN"]
    assert {"PARLEY_PUBLIC_API_URL", "PARLEY_TWILIO_API_URL", "PARLEY_TABLE_PREFIX"} <= set(variables)


def test_the_probe_role_reads_its_checks_and_writes_only_beats(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    statements = role_policies(synthesized, function_roles(synthesized)["StatusProbe"])
    grants = {}
    for statement in statements:
        for action in as_list(statement["Action"]):
            grants.setdefault(action, set()).update(
                frozenset(references(resource)) or "*" for resource in as_list(statement["Resource"]))
    beats_table, _ = table_resource(synthesized, StatusBeat)
    sequences_table, _ = table_resource(synthesized, Sequence)
    assert grants["dynamodb:PutItem"] == grants["dynamodb:BatchWriteItem"] == {frozenset({beats_table})}
    assert grants["dynamodb:GetItem"] == {frozenset({sequences_table})}
    assert not {"dynamodb:Query", "dynamodb:DeleteItem", "dynamodb:UpdateItem", "dynamodb:Scan"} & set(grants)
    queues = [stack.queues.get(spec) for spec in (DIALER, CALL_EVENTS, DELIVERIES)]
    probed = {frozenset({logical_id(stack, q)}) for p in queues for q in (p.queue, p.dead_letters)}
    assert grants["sqs:GetQueueAttributes"] == probed
    assert not {"sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage"} & set(grants)
    assert grants["secretsmanager:GetSecretValue"] == {frozenset({logical_id(stack, stack.status_key_secret)})}
    assert grants["elasticloadbalancing:DescribeTargetHealth"] == {"*"}
    assert [a for a in grants if a.startswith("elasticloadbalancing:")] == ["elasticloadbalancing:DescribeTargetHealth"]
    assert grants["cloudwatch:GetMetricData"] == {"*"}  # the queues' oldest message age
    assert [a for a in grants if a.startswith("cloudwatch:")] == ["cloudwatch:GetMetricData"]


def test_only_the_probe_writes_beats_and_only_the_api_handler_reads_them(synthesized: Synthesized) -> None:
    beats_table, _ = table_resource(synthesized, StatusBeat)
    for function, role_id in function_roles(synthesized).items():
        actions = {action for statement in role_policies(synthesized, role_id)
                   if any(beats_table in references(r) for r in as_list(statement["Resource"]))
                   for action in as_list(statement["Action"])}
        expected = {"StatusProbe": {"dynamodb:PutItem", "dynamodb:BatchWriteItem"},
                    "APIHandler": {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query",
                                   "dynamodb:DescribeTable"}}.get(function, set())
        assert actions == expected, function


def test_the_stack_says_where_the_probes_key_goes(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    output = synthesized.template_json["Outputs"]["StatusProbeKeySecretArn"]
    assert references(output["Value"]) == {logical_id(stack, stack.status_key_secret)}
