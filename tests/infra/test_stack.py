"""The synthesized Parley stack: tables from the models, keys, the Chalice API, IAM scope and cdk-nag."""
from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Annotations, Match

from chalicelib.api.gateway_errors import GATEWAY_ERRORS
from chalicelib.db.models import ALL_MODELS, ApiKey, Call, IdempotencyRecord, StatusBeat, ttl_attribute_name
from tests.infra.conftest import Synthesized
from tests.infra.helpers import (
    SAM_FUNCTION,
    as_list,
    expected_key_schema,
    function_roles,
    logical_id,
    resources,
    role_policies,
    table_arn_target,
    table_resource,
)

# --- tables -------------------------------------------------------------------------------------


def test_one_table_per_model_named_by_the_model(synthesized: Synthesized) -> None:
    synthesized.template.resource_count_is("AWS::DynamoDB::Table", len(ALL_MODELS))
    for model in ALL_MODELS:
        table_resource(synthesized, model)


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_table_key_schema_follows_the_model(synthesized: Synthesized, model: type) -> None:
    _, table = table_resource(synthesized, model)
    props = table["Properties"]
    assert props["KeySchema"] == expected_key_schema(model)
    types = {d["AttributeName"]: d["AttributeType"] for d in props["AttributeDefinitions"]}
    for key in props["KeySchema"]:
        assert types[key["AttributeName"]] == model.get_attributes()[key["AttributeName"]].attr_type


def test_calls_table_keys_and_by_agent_index(synthesized: Synthesized) -> None:
    synthesized.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "TableName": Call.Meta.table_name,
            "KeySchema": [
                {"AttributeName": "account_id", "KeyType": "HASH"},
                {"AttributeName": "call_id", "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": Match.array_with([{"AttributeName": "agent_key", "AttributeType": "S"}]),
            "GlobalSecondaryIndexes": Match.array_with([  # beside active-by-account (live monitoring)
                {
                    "IndexName": "by-agent",
                    "KeySchema": [
                        {"AttributeName": "agent_key", "KeyType": "HASH"},
                        {"AttributeName": "call_id", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ]),
        },
    )


def test_tables_are_on_demand_recoverable_encrypted_and_retained(synthesized: Synthesized) -> None:
    data_key = logical_id(synthesized.stack, synthesized.stack.keys.data)
    for model in ALL_MODELS:
        _, table = table_resource(synthesized, model)
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["SSESpecification"] == {
            "SSEEnabled": True,
            "SSEType": "KMS",
            "KMSMasterKeyId": {"Fn::GetAtt": [data_key, "Arn"]},
        }
        assert props["DeletionProtectionEnabled"] is True
        assert table["DeletionPolicy"] == "Retain"
        assert table["UpdateReplacePolicy"] == "Retain"


def test_ttl_only_where_the_model_has_a_ttl_attribute(synthesized: Synthesized) -> None:
    assert ttl_attribute_name(IdempotencyRecord) == "expires_at"
    for model in ALL_MODELS:
        _, table = table_resource(synthesized, model)
        ttl = table["Properties"].get("TimeToLiveSpecification")
        expected = ttl_attribute_name(model)
        assert ttl == ({"AttributeName": expected, "Enabled": True} if expected else None), model.__name__


# --- keys ---------------------------------------------------------------------------------------


def test_kms_keys_rotate_and_are_retained(synthesized: Synthesized) -> None:
    keys = resources(synthesized, "AWS::KMS::Key")
    assert len(keys) == 4  # secrets, tables, recordings, web search keys
    for key in keys.values():
        assert key["Properties"]["EnableKeyRotation"] is True
        assert key["DeletionPolicy"] == "Retain"


# --- API ----------------------------------------------------------------------------------------


def test_gateway_responses_are_devstacks_json_errors(synthesized: Synthesized) -> None:
    (rest_api,) = resources(synthesized, "AWS::Serverless::Api").values()
    responses = rest_api["Properties"]["DefinitionBody"]["x-amazon-apigateway-gateway-responses"]
    assert set(responses) == set(GATEWAY_ERRORS)
    for kind, (status, error, description) in GATEWAY_ERRORS.items():
        assert responses[kind].get("statusCode") == (str(status) if status is not None else None)
        body = json.loads(responses[kind]["responseTemplates"]["application/json"])
        assert body == {"error": error, "error_description": description}
    assert responses["UNAUTHORIZED"]["statusCode"] == "401"
    assert responses["ACCESS_DENIED"]["statusCode"] == "403"
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["statusCode"] == "404"
    assert "no such route" in responses["MISSING_AUTHENTICATION_TOKEN"]["responseTemplates"]["application/json"]
    assert responses["DEFAULT_5XX"]["statusCode"] == "502"
    assert "statusCode" not in responses["DEFAULT_4XX"]  # keeps API Gateway's own 4xx status


def test_rest_api_stage_logs_access_and_errors(synthesized: Synthesized) -> None:
    access_logs = logical_id(synthesized.stack, synthesized.stack.access_logs)
    (rest_api,) = resources(synthesized, "AWS::Serverless::Api").values()
    props = rest_api["Properties"]
    assert props["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": [access_logs, "Arn"]}
    fields = json.loads(props["AccessLogSetting"]["Format"])
    assert fields["requestId"] == "$context.requestId"
    assert props["MethodSettings"] == [
        {
            "ResourcePath": "/*",
            "HttpMethod": "*",
            "LoggingLevel": "ERROR",
            "DataTraceEnabled": False,
            "MetricsEnabled": True,
            "ThrottlingRateLimit": synthesized.stack.settings.throttling.api_rate_limit,
            "ThrottlingBurstLimit": synthesized.stack.settings.throttling.api_burst_limit,
        }
    ]
    synthesized.template.resource_count_is("AWS::ApiGateway::Account", 1)


def test_api_handler_environment(synthesized: Synthesized) -> None:
    secrets_key = logical_id(synthesized.stack, synthesized.stack.keys.secrets)
    variables = resources(synthesized, SAM_FUNCTION)["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert variables["PARLEY_KMS_KEY_ID"] == {"Fn::GetAtt": [secrets_key, "Arn"]}
    search_key = logical_id(synthesized.stack, synthesized.stack.keys.search_keys)
    assert variables["PARLEY_SEARCH_KMS_KEY_ID"] == {"Fn::GetAtt": [search_key, "Arn"]}
    assert variables["POWERTOOLS_SERVICE_NAME"] == "parley"
    prefix = variables["PARLEY_TABLE_PREFIX"]
    for model in ALL_MODELS:  # the Lambda's models resolve to exactly the stack's tables
        assert model.Meta.table_name.startswith(f"{prefix}-")


def test_every_function_has_the_table_prefix_its_role_and_log_group(synthesized: Synthesized) -> None:
    roles = resources(synthesized, "AWS::IAM::Role")
    log_groups = {r["Properties"]["LogGroupName"] for r in resources(synthesized, "AWS::Logs::LogGroup").values()}
    functions = resources(synthesized, SAM_FUNCTION)
    assert set(functions) == {
        "APIHandler",
        "ApiKeyAuth",
        "DialerWorker",
        "CampaignOpsWorker",
        "CampaignScheduler",
        "CallEventsWorker",
        "DeliveryWorker",
        "WebsocketConnect",
        "WebsocketMessage",
        "WebsocketDisconnect",
        "StatusProbe",
    }
    assert len({function["Properties"]["Role"]["Fn::GetAtt"][0] for function in functions.values()}) == 11
    for function in functions.values():
        props = function["Properties"]
        assert props["Environment"]["Variables"]["PARLEY_TABLE_PREFIX"] == synthesized.stack.settings.table_prefix
        assert props["Environment"]["Variables"]["PARLEY_QUEUE_PREFIX"] == synthesized.stack.settings.queue_prefix
        role_id = props["Role"]["Fn::GetAtt"][0]
        assert role_id in roles
        assert f"/aws/lambda/{props['FunctionName']}" in log_groups


# --- IAM ----------------------------------------------------------------------------------------


def test_lambda_roles_reach_only_parley_tables(synthesized: Synthesized) -> None:
    tables = {table_resource(synthesized, model)[0]: model for model in ALL_MODELS}
    roles = resources(synthesized, "AWS::IAM::Role")
    for function, role_id in function_roles(synthesized).items():
        role = roles[role_id]["Properties"]
        assert "ManagedPolicyArns" not in role and "Policies" not in role, function
        statements = role_policies(synthesized, role_id)
        assert statements, function
        for statement in statements:
            if function == "StatusProbe" and statement["Action"] in (
                    "elasticloadbalancing:DescribeTargetHealth", "cloudwatch:GetMetricData"):
                assert statement["Resource"] == "*"  # the two reads with no resource-level permissions (nag.py)
                continue
            assert "*" not in as_list(statement["Resource"]), (function, statement)
            for action in as_list(statement["Action"]):
                assert "*" not in action, (function, action)
            if any(action.startswith("dynamodb:") for action in as_list(statement["Action"])):
                for resource in as_list(statement["Resource"]):
                    table_id, index = table_arn_target(resource, tables)
                    if index is not None:
                        assert index in tables[table_id]._indexes, (function, index)


@pytest.mark.parametrize("function", ["APIHandler", "DialerWorker", "CampaignOpsWorker", "CampaignScheduler"])
def test_app_functions_reach_every_table_and_index(synthesized: Synthesized, function: str) -> None:
    tables = {table_resource(synthesized, model)[0]: model for model in ALL_MODELS}
    role_id = function_roles(synthesized)[function]
    reached = {
        table_arn_target(resource, tables)
        for statement in role_policies(synthesized, role_id)
        if "dynamodb:Query" in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    }
    # Every table but the API keys': keys are issued by the CLI and read only by the authorizer; status beats are
    # read by the API handler alone (the probe writes them).
    skipped = {ApiKey} if function == "APIHandler" else {ApiKey, StatusBeat}
    expected = {(table_id, None) for table_id, model in tables.items() if model not in skipped} | {
        (table_id, index) for table_id, model in tables.items() if model not in skipped for index in model._indexes
    }
    assert reached == expected
    assert not any(
        "dynamodb:Scan" in as_list(s["Action"]) for s in role_policies(synthesized, role_id)
    ), "every access is keyed by tenant; Scan is not granted"


def test_only_the_authorizers_reach_the_api_keys_table(synthesized: Synthesized) -> None:
    """No function may write API keys (the CLI issues them); only the REST authorizer and the monitoring
    WebSocket's $connect (which authenticates API keys and checks a monitor token's key) read them."""
    api_keys_table, _ = table_resource(synthesized, ApiKey)
    for function, role_id in function_roles(synthesized).items():
        targets = [
            resource
            for statement in role_policies(synthesized, role_id)
            if any(action.startswith("dynamodb:") for action in as_list(statement["Action"]))
            for resource in as_list(statement["Resource"])
        ]
        reaches = any(api_keys_table in repr(resource) for resource in targets)
        assert reaches == (function in ("ApiKeyAuth", "WebsocketConnect")), function
        if reaches:
            assert {a for s in role_policies(synthesized, role_id) if api_keys_table in repr(s["Resource"])
                    for a in as_list(s["Action"])} == {"dynamodb:GetItem"}, function


def test_authorizer_only_reads_api_keys(synthesized: Synthesized) -> None:
    api_keys_table, _ = table_resource(synthesized, ApiKey)
    role_id = function_roles(synthesized)["ApiKeyAuth"]
    dynamodb = [s for s in role_policies(synthesized, role_id) if "dynamodb:GetItem" in as_list(s["Action"])]
    assert dynamodb == [
        {"Action": "dynamodb:GetItem", "Effect": "Allow", "Resource": {"Fn::GetAtt": [api_keys_table, "Arn"]}}
    ]
    kms_actions = {a for s in role_policies(synthesized, role_id) for a in as_list(s["Action"]) if a.startswith("kms:")}
    assert kms_actions == {"kms:Decrypt", "kms:DescribeKey"}


def test_secrets_key_use_requires_the_account_context(synthesized: Synthesized) -> None:
    """The API handler seals and opens customer secrets; the dialer (carrier credentials), campaign operations
    (a WhatsApp number's token, to hang up an unanswered call) and the delivery worker (channel credentials)
    only open them."""
    secrets_arn = {"Fn::GetAtt": [logical_id(synthesized.stack, synthesized.stack.keys.secrets), "Arn"]}
    expected_actions = {
        "APIHandler": ["kms:Decrypt", "kms:Encrypt"],
        "DialerWorker": ["kms:Decrypt"],
        "CampaignOpsWorker": ["kms:Decrypt"],
        "DeliveryWorker": ["kms:Decrypt"],
    }
    for function, role_id in function_roles(synthesized).items():
        statements = [s for s in role_policies(synthesized, role_id) if s["Resource"] == secrets_arn]
        if function not in expected_actions:
            assert statements == [], function
            continue
        (statement,) = statements
        assert sorted(as_list(statement["Action"])) == expected_actions[function]
        assert statement["Condition"] == {
            "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["parley:account_id"]},
            "Null": {"kms:EncryptionContextKeys": "false"},
        }


def test_table_key_is_usable_only_through_dynamodb(synthesized: Synthesized) -> None:
    data_key = {"Fn::GetAtt": [logical_id(synthesized.stack, synthesized.stack.keys.data), "Arn"]}
    for function, role_id in function_roles(synthesized).items():
        # One statement per kind of table access (a read-only grant decrypts only).
        statements = [s for s in role_policies(synthesized, role_id) if s["Resource"] == data_key]
        assert 1 <= len(statements) <= 2, function
        for statement in statements:
            via = statement["Condition"]["StringEquals"]["kms:ViaService"]
            assert via == {"Fn::Join": ["", ["dynamodb.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}


# --- cdk-nag ------------------------------------------------------------------------------------


def test_cdk_nag_reports_nothing_unacknowledged(synthesized: Synthesized) -> None:
    violations = [
        violation
        for report in synthesized.validation_report["pluginReports"]
        for violation in report.get("violations", [])
    ]
    assert violations == []
    assert Annotations.from_stack(synthesized.stack).find_error("*", Match.any_value()) == []


def test_every_acknowledged_finding_has_a_written_reason(synthesized: Synthesized) -> None:
    from aws_cdk import Validations

    acknowledged = {
        rule: reason
        for construct in synthesized.stack.node.find_all()
        for entry in construct.node.metadata
        if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY
        for rule, reason in entry.data.items()
    }
    assert acknowledged, "expected the accepted findings to be acknowledged explicitly"
    for rule, reason in acknowledged.items():
        assert len(reason) >= 80, f"{rule}: give a specific reason"
