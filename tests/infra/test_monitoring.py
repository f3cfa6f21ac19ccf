"""Live monitoring in the synthesized stack: the WebSocket API from the Chalice app, who may post to its
connections, the URLs handed out, the connections table, and the dashboard on CloudFront."""
from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest

from chalicelib.db.models import ApiKey, Call, MonitorConnection, ttl_attribute_name
from parley_infra.dashboard import dashboard_files
from parley_infra.monitoring import MANAGEMENT_URL_VARIABLE, MONITOR_URL_VARIABLE
from parley_infra.settings import StageSettings
from parley_infra.stack import MONITOR_PUBLISHERS
from tests.infra.conftest import Synthesized
from tests.infra.helpers import (
    SAM_FUNCTION,
    as_list,
    function_roles,
    logical_id,
    references,
    resources,
    role_policies,
    table_arn_target,
    table_resource,
)

HANDLERS = {
    "$connect": "app.monitor_connect", "$default": "app.monitor_message", "$disconnect": "app.monitor_disconnect",
}
"""Route -> the app.py function API Gateway invokes for it."""

CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
"""CloudFront's managed policy ids (AWS documentation: managed cache / origin request policies)."""


def _host(api_id: str) -> list[Any]:
    return [{"Ref": api_id}, ".execute-api.", {"Ref": "AWS::Region"}, ".", {"Ref": "AWS::URLSuffix"}]


def _websocket(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    ((api_id, api),) = resources(synthesized, "AWS::ApiGatewayV2::Api").items()
    return api_id, api


def _stage_name(synthesized: Synthesized) -> str:
    ((_, stage),) = resources(synthesized, "AWS::ApiGatewayV2::Stage").items()
    return stage["Properties"]["StageName"]


def _table_access(synthesized: Synthesized, statements: list[dict[str, Any]], models: tuple[type, ...]) -> dict:
    tables = {table_resource(synthesized, model)[0]: model for model in models}
    access: dict[type, set[str]] = {}
    for statement in statements:
        actions = [a for a in as_list(statement["Action"]) if a.startswith("dynamodb:")]
        for resource in as_list(statement["Resource"]) if actions else []:
            table_id, _ = table_arn_target(resource, tables)  # fails on any other table
            access.setdefault(tables[table_id], set()).update(actions)
    return access


# --- the WebSocket API ----------------------------------------------------------------------------


def test_websocket_api_routes_invoke_the_apps_monitoring_handlers(synthesized: Synthesized) -> None:
    api_id, api = _websocket(synthesized)
    assert api["Properties"]["ProtocolType"] == "WEBSOCKET"
    assert api["Properties"]["RouteSelectionExpression"] == "$request.body.action"
    integrations = resources(synthesized, "AWS::ApiGatewayV2::Integration")
    functions = resources(synthesized, SAM_FUNCTION)
    routes = {r["Properties"]["RouteKey"]: r["Properties"]
              for r in resources(synthesized, "AWS::ApiGatewayV2::Route").values()}
    assert set(routes) == set(HANDLERS)
    for route_key, handler in HANDLERS.items():
        route = routes[route_key]
        assert route["ApiId"] == {"Ref": api_id}
        integration_id = route["Target"]["Fn::Join"][1][1]["Ref"]
        integration = integrations[integration_id]["Properties"]
        assert integration["IntegrationType"] == "AWS_PROXY"
        function_id = integration["IntegrationUri"]["Fn::Sub"][1]["WebsocketHandler"]["Ref"]
        assert functions[function_id]["Properties"]["Handler"] == handler
        # API Gateway may invoke the handler for this API only.
        (permission,) = [p["Properties"] for p in resources(synthesized, "AWS::Lambda::Permission").values()
                         if p["Properties"]["FunctionName"] == {"Ref": function_id}]
        assert permission["Principal"] == "apigateway.amazonaws.com"
        assert permission["SourceArn"]["Fn::Sub"][1] == {"WebsocketAPIId": {"Ref": api_id}}


def test_websocket_stage_logs_access_and_errors_and_is_throttled(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    ((_, stage),) = resources(synthesized, "AWS::ApiGatewayV2::Stage").items()
    props = stage["Properties"]
    assert props["StageName"] == stack.monitoring.stage_name
    access_logs = logical_id(stack, stack.monitoring.access_logs)
    assert props["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": [access_logs, "Arn"]}
    fields = json.loads(props["AccessLogSettings"]["Format"])
    assert fields["connectionId"] == "$context.connectionId" and fields["routeKey"] == "$context.routeKey"
    assert "token" not in props["AccessLogSettings"]["Format"].lower()  # query strings (tokens) are never logged
    throttle = stack.settings.throttling
    assert props["DefaultRouteSettings"] == {
        "DataTraceEnabled": False,
        "DetailedMetricsEnabled": True,
        "LoggingLevel": "ERROR",
        "ThrottlingBurstLimit": throttle.monitor_burst_limit,
        "ThrottlingRateLimit": throttle.monitor_rate_limit,
    }
    log_group = synthesized.template_json["Resources"][access_logs]
    assert log_group["Properties"]["LogGroupName"] == "/parley/test/monitor-access"
    # Logging needs the region's API Gateway CloudWatch role first (shared with the REST API).
    (account_id,) = resources(synthesized, "AWS::ApiGateway::Account")
    assert account_id in as_list(stage.get("DependsOn", []))


def test_the_template_has_no_dependency_cycle(synthesized: Synthesized) -> None:
    """The handlers' environment names the API, whose integrations name the handlers: no cycle may result."""
    template = synthesized.template_json["Resources"]

    graph = {
        name: {d for d in references(r.get("Properties", {})) | set(as_list(r.get("DependsOn", []))) if d in template}
        for name, r in template.items()
    }
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in graph[node]:
            assert state.get(target) != 1, f"dependency cycle: {' -> '.join([*path, node, target])}"
            if target not in state:
                visit(target, [*path, node])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [])


# --- who posts, and where -------------------------------------------------------------------------


def test_publishers_and_the_streaming_task_may_post_to_this_apis_connections_only(synthesized: Synthesized) -> None:
    api_id, _ = _websocket(synthesized)
    expected = {"Fn::Join": ["", [
        "arn:", {"Ref": "AWS::Partition"}, ":execute-api:", {"Ref": "AWS::Region"}, ":", {"Ref": "AWS::AccountId"},
        ":", {"Ref": api_id}, f"/{_stage_name(synthesized)}/POST/@connections/*",
    ]]}
    roles = function_roles(synthesized)
    task_role = logical_id(synthesized.stack, synthesized.stack.streaming.task_role)
    granted = set()
    for role_id in {*roles.values(), task_role}:
        for statement in role_policies(synthesized, role_id):
            if any("execute-api" in action for action in as_list(statement["Action"])):
                assert as_list(statement["Action"]) == ["execute-api:ManageConnections"]
                assert as_list(statement["Resource"]) == [expected]
                granted.add(role_id)
    assert granted == {roles[name] for name in MONITOR_PUBLISHERS} | {task_role}


def test_publishers_and_the_streaming_task_get_the_monitor_urls(synthesized: Synthesized) -> None:
    api_id, _ = _websocket(synthesized)
    stage = _stage_name(synthesized)
    expected = {
        MONITOR_URL_VARIABLE: {"Fn::Join": ["", ["wss://", *_host(api_id), f"/{stage}"]]},
        MANAGEMENT_URL_VARIABLE: {"Fn::Join": ["", ["https://", *_host(api_id), f"/{stage}"]]},
    }
    for name, function in resources(synthesized, SAM_FUNCTION).items():
        variables = function["Properties"]["Environment"]["Variables"]
        if name in MONITOR_PUBLISHERS:
            assert {k: variables.get(k) for k in expected} == expected, name
        else:
            assert not set(expected) & set(variables), name
    (task,) = resources(synthesized, "AWS::ECS::TaskDefinition").values()
    (container,) = task["Properties"]["ContainerDefinitions"]
    variables = {v["Name"]: v["Value"] for v in container["Environment"]}
    assert {k: variables.get(k) for k in expected} == expected
    assert synthesized.template_json["Outputs"]["MonitorUrl"]["Value"] == expected[MONITOR_URL_VARIABLE]


def test_connect_authenticates_and_stores_disconnect_only_deletes(synthesized: Synthesized) -> None:
    roles = function_roles(synthesized)
    models = (ApiKey, Call, MonitorConnection, *_campaign())
    connect = role_policies(synthesized, roles["WebsocketConnect"])
    assert _table_access(synthesized, connect, models) == {
        ApiKey: {"dynamodb:GetItem"}, MonitorConnection: {"dynamodb:PutItem"},
    }
    secret = {"Ref": logical_id(synthesized.stack, synthesized.stack.stream_token_secret)}
    assert {"Action": "secretsmanager:GetSecretValue", "Effect": "Allow", "Resource": secret} in connect
    variables = resources(synthesized, SAM_FUNCTION)["WebsocketConnect"]["Properties"]["Environment"]["Variables"]
    assert variables["PARLEY_STREAM_TOKEN_SECRET_ARN"] == secret
    disconnect = role_policies(synthesized, roles["WebsocketDisconnect"])
    assert _table_access(synthesized, disconnect, models) == {MonitorConnection: {"dynamodb:DeleteItem"}}
    message = _table_access(synthesized, role_policies(synthesized, roles["WebsocketMessage"]), models)
    assert message[MonitorConnection] >= {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem",
                                          "dynamodb:DeleteItem"}
    assert "dynamodb:PutItem" not in message[Call] and "dynamodb:Query" in message[Call]  # the snapshot


def _campaign() -> tuple[type, ...]:
    from chalicelib.db.models import Campaign

    return (Campaign,)


def test_streaming_task_reads_watchers_and_deletes_gone_connections(synthesized: Synthesized) -> None:
    task_role = logical_id(synthesized.stack, synthesized.stack.streaming.task_role)
    statements = [s for s in role_policies(synthesized, task_role)
                  if MonitorConnection.Meta.table_name in json.dumps(s) or "MonitorConnection" in json.dumps(s)]
    access = {a for s in statements for a in as_list(s["Action"]) if a.startswith("dynamodb:")}
    assert access == {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:DescribeTable",
                      "dynamodb:DeleteItem"}


# --- tables -----------------------------------------------------------------------------------------


def test_connections_table_expires_connections_and_is_indexed_by_account(synthesized: Synthesized) -> None:
    _, table = table_resource(synthesized, MonitorConnection)
    props = table["Properties"]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert ttl_attribute_name(MonitorConnection) == "expires_at"
    assert props["KeySchema"] == [{"AttributeName": "connection_id", "KeyType": "HASH"}]
    (index,) = props["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "by-account"
    assert index["KeySchema"] == [{"AttributeName": "account_id", "KeyType": "HASH"},
                                  {"AttributeName": "connection_id", "KeyType": "RANGE"}]


def test_calls_table_keeps_its_identity_and_gains_the_active_calls_index(synthesized: Synthesized) -> None:
    call_id, table = table_resource(synthesized, Call)
    assert call_id.startswith("TablesCallTable")  # same construct id: an update adds the index, no replacement
    indexes = {i["IndexName"]: i for i in table["Properties"]["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"by-agent", "active-by-account"}
    assert indexes["active-by-account"]["KeySchema"] == [{"AttributeName": "active_account", "KeyType": "HASH"},
                                                         {"AttributeName": "call_id", "KeyType": "RANGE"}]


# --- the dashboard ------------------------------------------------------------------------------------


def _distribution(synthesized: Synthesized) -> dict[str, Any]:
    (distribution,) = resources(synthesized, "AWS::CloudFront::Distribution").values()
    return distribution["Properties"]["DistributionConfig"]


def test_dashboard_bucket_is_private_and_read_by_this_distribution_only(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    bucket_id = logical_id(stack, stack.dashboard.bucket)
    bucket = synthesized.template_json["Resources"][bucket_id]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True
    }
    assert "WebsiteConfiguration" not in bucket
    (policy,) = [p["Properties"]["PolicyDocument"] for p in resources(synthesized, "AWS::S3::BucketPolicy").values()
                 if p["Properties"]["Bucket"] == {"Ref": bucket_id}]
    allows = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert len(allows) == 1 and allows[0]["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allows[0]["Action"] == "s3:GetObject"
    distribution_id = logical_id(stack, stack.dashboard.distribution)
    assert distribution_id in json.dumps(allows[0]["Condition"])  # AWS:SourceArn: this distribution
    config = _distribution(synthesized)
    (s3_origin,) = [o for o in config["Origins"] if "S3OriginConfig" in o]
    assert s3_origin["DomainName"] == {"Fn::GetAtt": [bucket_id, "RegionalDomainName"]}
    assert "OriginAccessControlId" in s3_origin
    assert config["DefaultRootObject"] == "dashboard.html"
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "https-only"
    assert config["DefaultCacheBehavior"]["TargetOriginId"] == s3_origin["Id"]
    assert "Bucket" in config["Logging"]


def test_dashboard_routes_api_paths_to_the_rest_api_uncached_with_the_callers_headers(
        synthesized: Synthesized) -> None:
    config = _distribution(synthesized)
    (behavior,) = config["CacheBehaviors"]
    assert behavior["PathPattern"] == "/api/*"
    assert behavior["CachePolicyId"] == CACHING_DISABLED
    assert behavior["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER  # Authorization included, Host not
    assert behavior["ViewerProtocolPolicy"] == "https-only"
    assert {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} <= set(behavior["AllowedMethods"])
    (origin,) = [o for o in config["Origins"] if o["Id"] == behavior["TargetOriginId"]]
    assert origin["DomainName"] == {"Fn::Join": ["", _host("RestAPI")]}
    # The page calls <origin>/api/v1/...; the REST API's stage URL is .../<stage>/api/v1/...
    assert origin["OriginPath"] == f"/{synthesized.stack.api_stage}"
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert origin["CustomOriginConfig"]["OriginSSLProtocols"] == ["TLSv1.2"]


def test_dashboard_responses_carry_security_headers(synthesized: Synthesized) -> None:
    config = _distribution(synthesized)
    policy_ref = config["DefaultCacheBehavior"]["ResponseHeadersPolicyId"]
    assert config["CacheBehaviors"][0]["ResponseHeadersPolicyId"] == policy_ref
    policy = synthesized.template_json["Resources"][policy_ref["Ref"]]["Properties"]["ResponseHeadersPolicyConfig"]
    headers = policy["SecurityHeadersConfig"]
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000
    assert headers["ContentTypeOptions"]["Override"] is True
    csp = json.dumps(synthesized.stack.resolve(headers["ContentSecurityPolicy"]["ContentSecurityPolicy"]))
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "connect-src 'self' wss://" in csp and "WebsocketAPI" in csp  # the monitoring WebSocket


def test_dashboard_files_are_deployed_and_cloudfront_invalidated(synthesized: Synthesized) -> None:
    deployments = resources(synthesized, "Custom::CDKBucketDeployment")
    files = dashboard_files()
    if not files:  # the page is not written yet: the bucket stays empty (synth warns)
        assert deployments == {}
        return
    assert {path.name for path in files} <= {"dashboard.html", "dashboard.js", "dashboard.css"}
    (deployment,) = deployments.values()
    props = deployment["Properties"]
    stack = synthesized.stack
    assert props["DestinationBucketName"] == {"Ref": logical_id(stack, stack.dashboard.bucket)}
    assert props["DistributionId"] == {"Ref": logical_id(stack, stack.dashboard.distribution)}
    assert props["DistributionPaths"] == ["/*"]


# --- outputs and nag -------------------------------------------------------------------------------------


def test_outputs_name_the_monitoring_websocket_and_the_dashboard(synthesized: Synthesized) -> None:
    outputs = synthesized.template_json["Outputs"]
    api_id, _ = _websocket(synthesized)
    stage = _stage_name(synthesized)
    assert outputs["MonitorUrl"]["Value"] == {"Fn::Join": ["", ["wss://", *_host(api_id), f"/{stage}"]]}
    distribution_id = logical_id(synthesized.stack, synthesized.stack.dashboard.distribution)
    assert outputs["DashboardUrl"]["Value"] == {
        "Fn::Join": ["", ["https://", {"Fn::GetAtt": [distribution_id, "DomainName"]}, "/"]]
    }


def test_cdk_nag_reports_nothing_unacknowledged_with_monitoring(synthesized: Synthesized) -> None:
    violations = [v for report in synthesized.validation_report["pluginReports"] for v in report.get("violations", [])]
    assert violations == []


# --- settings ---------------------------------------------------------------------------------------------


def test_monitor_throttle_from_context() -> None:
    custom = StageSettings.from_context(
        cdk.App(context={"stage": "prod", "monitorRateLimit": "50", "monitorBurstLimit": 80}).node
    ).throttling
    assert (custom.monitor_rate_limit, custom.monitor_burst_limit) == (50, 80)
    with pytest.raises(ValueError):
        StageSettings.from_context(cdk.App(context={"stage": "prod", "monitorRateLimit": "0"}).node)
