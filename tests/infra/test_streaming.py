"""The streaming service's deployment: ALB (keep-alive, draining, health), Fargate task, autoscaling on
ActiveCalls, the task role's scope, the recordings bucket and calls bus, and the Lambdas' streaming URL.

The session's stack (``synthesized``) is the dev default: no certificate, plain ws:// on port 80. The
TLS variant is the streaming construct alone in a small stack (no Chalice packaging), synthesized once
for this module with a certificate, a domain name and an inference-profile model.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from chalicelib.db.models import (
    Account,
    Agent,
    Call,
    Campaign,
    CampaignLine,
    MonitorConnection,
    PhoneNumber,
    PostCallAction,
)
from parley_infra.settings import REPO_ROOT, StageSettings, StreamingSettings
from parley_infra.streaming import (
    DEREGISTRATION_DELAY,
    IDLE_TIMEOUT,
    IMAGE_FILES,
    KEEPALIVE_INTERVAL,
    STOP_TIMEOUT,
)
from tests.infra.conftest import Synthesized
from tests.infra.helpers import (
    SAM_FUNCTION,
    as_list,
    logical_id,
    resources,
    role_policies,
    table_arn_target,
)

CERTIFICATE_ARN = "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-aaaa-bbbb-cccc-123456789abc"
DOMAIN = "stream.example.com"


def one(template_json: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    matches = [(k, v) for k, v in template_json["Resources"].items() if v["Type"] == kind]
    assert len(matches) == 1, (kind, [k for k, _ in matches])
    return matches[0]


def attributes(resource: dict[str, Any], key: str) -> dict[str, Any]:
    return {a["Key"]: a["Value"] for a in resource["Properties"][key]}


def container(template_json: dict[str, Any]) -> dict[str, Any]:
    (definition,) = one(template_json, "AWS::ECS::TaskDefinition")[1]["Properties"]["ContainerDefinitions"]
    return definition


def task_role_statements(template_json: dict[str, Any]) -> list[dict[str, Any]]:
    role_id = one(template_json, "AWS::ECS::TaskDefinition")[1]["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]
    return role_policies(Synthesized(None, None, None, template_json, {}), role_id)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    from aws_cdk.assertions import Template

    from parley_infra.keys import create_keys
    from parley_infra.nag import acknowledge, acknowledge_streaming, enable_nag
    from parley_infra.stream_secret import create_stream_token_secret
    from parley_infra.streaming import StreamingDataAccess, StreamingService
    from parley_infra.tables import ParleyTables, load_models

    outdir = tmp_path_factory.mktemp("streaming-tls")
    prefix = os.environ["PARLEY_TABLE_PREFIX"]
    settings = StageSettings.for_stage(
        "tls",
        table_prefix=prefix,
        streaming=StreamingSettings(
            certificate_arn=CERTIFICATE_ARN,
            domain_name=DOMAIN,
            bedrock_model_id="us.amazon.nova-micro-v1:0",
            max_tasks=4,
            calls_per_task=25,
        ),
    )
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "StreamingTls")
    keys = create_keys(stack, settings)
    tables = ParleyTables(stack, "Tables", models=load_models(prefix), encryption_key=keys.data)
    secret = create_stream_token_secret(stack, settings)
    streaming = StreamingService(
        stack,
        "Streaming",
        settings=settings,
        data=StreamingDataAccess(tables=tables, keys=keys, stream_token_secret=secret),
    )
    enable_nag(app)
    acknowledge_streaming(streaming)
    acknowledge(secret, "AwsSolutions-SMG4", "Accepted for the whole stack in parley_infra.nag.acknowledge_findings.")
    try:
        assembly = app.synth()
    except RuntimeError as error:
        report = outdir / "validation-report.json"
        pytest.fail(f"synth failed: {error}\n{report.read_text() if report.exists() else ''}")
    template_json = assembly.get_stack_by_name("StreamingTls").template
    yield Synthesized(
        app=app,
        stack=streaming,
        template=Template.from_json(template_json),
        template_json=template_json,
        validation_report=json.loads((outdir / "validation-report.json").read_text()),
    )


# --- load balancer --------------------------------------------------------------------------------


def test_alb_idle_timeout_is_well_above_the_websocket_keepalive(synthesized: Synthesized) -> None:
    _, alb = one(synthesized.template_json, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert alb["Properties"]["Scheme"] == "internet-facing"
    settings = attributes(alb, "LoadBalancerAttributes")
    assert settings["idle_timeout.timeout_seconds"] == "120"
    assert int(settings["idle_timeout.timeout_seconds"]) >= 3 * KEEPALIVE_INTERVAL.to_seconds()
    assert settings["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert settings["access_logs.s3.enabled"] == "true"
    assert IDLE_TIMEOUT.to_seconds() == 120


def test_target_group_checks_healthz_and_drains_for_the_stop_timeout(synthesized: Synthesized) -> None:
    _, group = one(synthesized.template_json, "AWS::ElasticLoadBalancingV2::TargetGroup")
    props = group["Properties"]
    assert (props["Port"], props["Protocol"], props["TargetType"]) == (8080, "HTTP", "ip")
    assert props["HealthCheckPath"] == "/healthz"
    assert props["Matcher"] == {"HttpCode": "200"}  # 503 while draining takes the task out
    assert attributes(group, "TargetGroupAttributes")["deregistration_delay.timeout_seconds"] == "120"
    assert DEREGISTRATION_DELAY.to_seconds() == STOP_TIMEOUT.to_seconds() == 120


def test_without_a_certificate_the_alb_serves_ws_on_port_80(synthesized: Synthesized) -> None:
    _, listener = one(synthesized.template_json, "AWS::ElasticLoadBalancingV2::Listener")
    assert (listener["Properties"]["Port"], listener["Properties"]["Protocol"]) == (80, "HTTP")
    assert "Certificates" not in listener["Properties"]
    alb_id, _ = one(synthesized.template_json, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    expected = {"Fn::Join": ["", ["ws://", {"Fn::GetAtt": [alb_id, "DNSName"]}, "/twilio"]]}
    assert synthesized.stack.resolve(synthesized.stack.streaming.url) == expected
    assert synthesized.template_json["Outputs"]["StreamingUrl"]["Value"] == expected


def _public_routes(template_json: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[list[str], dict[str, Any]]]]:
    """(the listener's default action, [(path patterns, action)] of its rules)."""
    _, listener = one(template_json, "AWS::ElasticLoadBalancingV2::Listener")
    (default,) = listener["Properties"]["DefaultActions"]
    rules = []
    template = Synthesized(None, None, None, template_json, {})
    listener_rules = resources(template, "AWS::ElasticLoadBalancingV2::ListenerRule")
    for rule in listener_rules.values():
        patterns = [p for c in rule["Properties"]["Conditions"] if c["Field"] == "path-pattern"
                    for p in c.get("PathPatternConfig", {}).get("Values", c.get("Values", []))]
        (action,) = rule["Properties"]["Actions"]
        rules.append((patterns, action))
    return default, rules


@pytest.mark.parametrize(
    ("variant", "forwarded"),
    [("synthesized", [["/twilio"], ["/web/offer"], ["/whatsapp/answer", "/whatsapp/offer"]]),
     ("tls", [["/twilio"]])],  # tls: the service alone, no web or WhatsApp calls
)
def test_the_load_balancer_forwards_only_the_media_stream_path(
    variant: str, forwarded: list[list[str]], request: pytest.FixtureRequest
) -> None:
    """``/stats`` (and anything else but ``/twilio`` and, with web calls, ``/web/offer``) is not reachable from
    the internet: the listener answers 404 itself and forwards only those exact paths (health checks reach the
    task directly)."""
    template_json = request.getfixturevalue(variant).template_json
    default, rules = _public_routes(template_json)
    assert default["Type"] == "fixed-response"
    assert default["FixedResponseConfig"]["StatusCode"] == "404"
    forwarding = [(patterns, action) for patterns, action in rules if action["Type"] == "forward"]
    assert sorted(patterns for patterns, _ in forwarding) == forwarded
    assert all("*" not in p and "?" not in p for patterns, _ in rules for p in patterns)


def test_lambdas_get_the_streaming_url(synthesized: Synthesized) -> None:
    url = synthesized.stack.resolve(synthesized.stack.streaming.url)
    for name, function in resources(synthesized, SAM_FUNCTION).items():
        variables = function["Properties"]["Environment"]["Variables"]
        if name in ("ApiKeyAuth", "CallEventsWorker", "DeliveryWorker",  # they place no calls
                    "WebsocketConnect", "WebsocketMessage", "WebsocketDisconnect", "StatusProbe"):
            assert "PARLEY_STREAMING_URL" not in variables
        else:
            assert variables["PARLEY_STREAMING_URL"] == url, name


def test_alb_access_log_bucket_admits_only_elb_log_delivery_to_its_prefix(synthesized: Synthesized) -> None:
    bucket_id = logical_id(synthesized.stack, synthesized.stack.streaming.access_logs)
    (policy,) = [
        p
        for p in resources(synthesized, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    elb = [s for s in statements if s["Effect"] == "Allow" and "alb/AWSLogs/" in json.dumps(s["Resource"])]
    assert len(elb) == 2 and all(s["Action"] == "s3:PutObject" for s in elb)
    assert {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"} in [s["Principal"] for s in elb]
    assert "Elbv2AccountMap" in json.dumps([s["Principal"] for s in elb])


# --- task and service -----------------------------------------------------------------------------


def test_container_drains_for_120_s_on_8080(synthesized: Synthesized) -> None:
    definition = container(synthesized.template_json)
    assert definition["StopTimeout"] == 120
    assert definition["PortMappings"] == [{"ContainerPort": 8080, "Name": "http", "Protocol": "tcp"}]
    assert definition["LogConfiguration"]["LogDriver"] == "awslogs"
    _, task = one(synthesized.template_json, "AWS::ECS::TaskDefinition")
    assert (task["Properties"]["Cpu"], task["Properties"]["Memory"]) == ("2048", "4096")


def test_container_environment(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    variables = {v["Name"]: v["Value"] for v in container(synthesized.template_json)["Environment"]}
    assert variables["PARLEY_TABLE_PREFIX"] == stack.settings.table_prefix
    assert variables["AWS_REGION"] == variables["AWS_DEFAULT_REGION"] == {"Ref": "AWS::Region"}
    assert variables["PARLEY_STREAM_TOKEN_SECRET_ARN"] == {"Ref": logical_id(stack, stack.stream_token_secret)}
    assert "PARLEY_KMS_KEY_ID" not in variables  # the service opens no sealed secret but accounts' search keys
    assert variables["PARLEY_SEARCH_KMS_KEY_ID"] == {"Fn::GetAtt": [logical_id(stack, stack.keys.search_keys), "Arn"]}
    assert variables["PARLEY_RECORDINGS_BUCKET"] == {"Ref": logical_id(stack, stack.streaming.recordings)}
    assert variables["PARLEY_EVENT_BUS_NAME"] == {"Ref": logical_id(stack, stack.streaming.bus)}
    assert variables["PARLEY_STT_DEFAULT"] == "amazon_transcribe"
    assert variables["PARLEY_LLM_DEFAULT"] == "bedrock"
    assert variables["PARLEY_TTS_DEFAULT"] == "polly"
    assert variables["PARLEY_BEDROCK_MODEL_ID"] == "amazon.nova-micro-v1:0"
    assert variables["PARLEY_SERVICE_NAME"] == stack.streaming.service_name
    assert "resolve:secretsmanager" not in json.dumps(variables)


def test_service_runs_in_private_subnets_with_container_insights(synthesized: Synthesized) -> None:
    _, service = one(synthesized.template_json, "AWS::ECS::Service")
    network = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "DISABLED"
    assert all("tasks" in subnet["Ref"] for subnet in network["Subnets"])
    breaker = service["Properties"]["DeploymentConfiguration"]["DeploymentCircuitBreaker"]
    assert breaker == {"Enable": True, "Rollback": True}
    _, cluster = one(synthesized.template_json, "AWS::ECS::Cluster")
    assert {"Name": "containerInsights", "Value": "enabled"} in cluster["Properties"]["ClusterSettings"]
    synthesized.template.resource_count_is("AWS::EC2::FlowLog", 1)


def test_autoscaling_tracks_active_calls_per_task_and_cpu(synthesized: Synthesized) -> None:
    _, target = one(synthesized.template_json, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert (target["Properties"]["MinCapacity"], target["Properties"]["MaxCapacity"]) == (1, 10)
    policies = {
        k: v["Properties"]["TargetTrackingScalingPolicyConfiguration"]
        for k, v in resources(synthesized, "AWS::ApplicationAutoScaling::ScalingPolicy").items()
    }
    (calls,) = [p for p in policies.values() if "CustomizedMetricSpecification" in p]
    assert calls["CustomizedMetricSpecification"] == {
        "Dimensions": [{"Name": "service", "Value": synthesized.stack.streaming.service_name}],
        "MetricName": "ActiveCalls",
        "Namespace": "Parley/Streaming",
        "Statistic": "Average",
    }
    assert calls["TargetValue"] == 40
    (cpu,) = [p for p in policies.values() if "PredefinedMetricSpecification" in p]
    assert cpu["PredefinedMetricSpecification"] == {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}
    for policy in policies.values():
        assert policy["ScaleInCooldown"] >= 300  # slow scale-in: draining tasks cut calls


# --- task role ------------------------------------------------------------------------------------


def test_task_role_is_scoped_to_the_bus_bucket_secret_and_model(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    statements = task_role_statements(synthesized.template_json)
    by_action = {action: s for s in statements for action in as_list(s["Action"])}
    assert by_action["events:PutEvents"]["Resource"] == {"Fn::GetAtt": [logical_id(stack, stack.streaming.bus), "Arn"]}
    bucket = logical_id(stack, stack.streaming.recordings)
    assert by_action["s3:PutObject"]["Resource"] == {"Fn::Join": ["", [{"Fn::GetAtt": [bucket, "Arn"]}, "/*"]]}
    # Recordings are uploaded in parts (bounded memory); a failed upload is aborted.
    assert by_action["s3:AbortMultipartUpload"]["Resource"] == by_action["s3:PutObject"]["Resource"]
    secret = {"Ref": logical_id(stack, stack.stream_token_secret)}
    assert by_action["secretsmanager:GetSecretValue"]["Resource"] == secret
    bedrock = by_action["bedrock:InvokeModelWithResponseStream"]
    assert "bedrock:InvokeModel" in as_list(bedrock["Action"])
    assert stack.resolve(bedrock["Resource"]) == {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, ":bedrock:", {"Ref": "AWS::Region"},
             "::foundation-model/amazon.nova-micro-v1:0"],
        ]
    }
    recordings_key = by_action["kms:GenerateDataKey"]
    assert recordings_key["Resource"] == {"Fn::GetAtt": [logical_id(stack, stack.keys.recordings), "Arn"]}
    assert "s3." in json.dumps(recordings_key["Condition"]["StringEquals"]["kms:ViaService"])


def test_task_role_wildcards_only_where_the_api_has_no_resource(synthesized: Synthesized) -> None:
    for statement in task_role_statements(synthesized.template_json):
        for action in as_list(statement["Action"]):
            assert "*" not in action
        if "*" in as_list(statement["Resource"]):
            assert sorted(as_list(statement["Action"])) == [
                "polly:SynthesizeSpeech",
                "transcribe:StartStreamTranscription",
                "transcribe:StartStreamTranscriptionWebSocket",
            ]
            assert as_list(statement["Resource"]) == ["*"]


def test_task_role_reads_agents_and_moves_calls_campaigns_and_lines(synthesized: Synthesized) -> None:
    from tests.infra.helpers import table_resource

    models = (Agent, Call, Campaign, CampaignLine, PostCallAction, PhoneNumber, MonitorConnection, Account)
    tables = {table_resource(synthesized, model)[0]: model for model in models}
    access: dict[type, set[str]] = {}
    for statement in task_role_statements(synthesized.template_json):
        actions = [a for a in as_list(statement["Action"]) if a.startswith("dynamodb:")]
        for resource in as_list(statement["Resource"]) if actions else []:
            table_id, _ = table_arn_target(resource, tables)  # fails on any other table
            access.setdefault(tables[table_id], set()).update(actions)
    assert set(access) == set(models)
    assert access[Agent] == {"dynamodb:GetItem"}  # call_media.admit, call_completed: one agent by key
    assert access[PostCallAction] == {"dynamodb:Query"}  # call_media.variables_to_extract
    assert access[PhoneNumber] == {"dynamodb:GetItem"}  # call_completed: the caller id's number
    assert access[Account] == {"dynamodb:GetItem"}  # search_credentials.keys_for_call: the sealed search keys
    # Live monitoring: the watchers of its calls' accounts and its own link; gone connections are deleted.
    assert "dynamodb:PutItem" not in access[MonitorConnection]
    assert {"dynamodb:Query", "dynamodb:DeleteItem"} <= access[MonitorConnection]
    for model in (Call, Campaign, CampaignLine):  # the state machine's TransactWriteItems
        assert {"dynamodb:UpdateItem", "dynamodb:ConditionCheckItem", "dynamodb:GetItem"} <= access[model]


def test_task_role_reads_only_the_attributes_it_uses_of_actions_and_numbers(synthesized: Synthesized) -> None:
    """Post-call actions hold sealed channel secrets and numbers sealed carrier credentials: the service reads
    an action's config and a number's digits, nothing else (IAM attribute-level conditions)."""
    from tests.infra.helpers import table_resource

    expected = {
        PostCallAction: ("dynamodb:Query", {"agent_key", "action_id", "config"}),
        PhoneNumber: ("dynamodb:GetItem", {"account_id", "phone_number_id", "number"}),
        Account: ("dynamodb:GetItem", {"account_id", "sealed_search_keys"}),
    }
    for model, (action, allowed) in expected.items():
        table_id, _ = table_resource(synthesized, model)
        (statement,) = [
            s
            for s in task_role_statements(synthesized.template_json)
            if {"Fn::GetAtt": [table_id, "Arn"]} in as_list(s["Resource"])
        ]
        assert as_list(statement["Action"]) == [action]
        condition = statement["Condition"]
        assert set(condition["ForAllValues:StringEquals"]["dynamodb:Attributes"]) == allowed
        assert condition["StringEqualsIfExists"] == {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"}
        sealed = {"sealed_secrets", "sealed_credentials", "sealed_search_keys"} & set(model.get_attributes())
        assert sealed and (not sealed & allowed or model is Account)  # an account holds only the search keys


def test_task_role_cannot_decrypt_sealed_secrets(synthesized: Synthesized) -> None:
    """No grant on the secrets key: the service never opens carrier tokens or channel credentials. The only
    decrypts are the ones S3 (recordings) and DynamoDB (tables) make on the role's behalf, and accounts' web
    search keys, sealed with a key of their own, opened only with an account-bound context."""
    stack = synthesized.stack
    secrets_key = logical_id(stack, stack.keys.secrets)
    search_key = {"Fn::GetAtt": [logical_id(stack, stack.keys.search_keys), "Arn"]}
    statements = task_role_statements(synthesized.template_json)
    assert secrets_key not in json.dumps(statements)
    decrypts = [s for s in statements if "kms:Decrypt" in as_list(s["Action"])]
    (search,) = [s for s in decrypts if s["Resource"] == search_key]
    assert as_list(search["Action"]) == ["kms:Decrypt"]
    assert search["Condition"]["ForAllValues:StringEquals"] == {"kms:EncryptionContextKeys": ["parley:account_id"]}
    for statement in decrypts:
        if statement is search:
            continue
        via = json.dumps(statement["Condition"]["StringEquals"]["kms:ViaService"])
        assert "s3." in via or "dynamodb." in via, statement


# --- bucket and bus ---------------------------------------------------------------------------------


def test_recordings_bucket_is_private_encrypted_logged_and_aged_out(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    bucket = synthesized.template_json["Resources"][logical_id(stack, stack.streaming.recordings)]["Properties"]
    (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": [logical_id(stack, stack.keys.recordings), "Arn"]},
    }
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    access_logs = {"Ref": logical_id(stack, stack.streaming.access_logs)}
    assert bucket["LoggingConfiguration"]["DestinationBucketName"] == access_logs
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and rule["ExpirationInDays"] == 365
    recordings = {"Ref": logical_id(stack, stack.streaming.recordings)}
    policies = [
        p for p in resources(synthesized, "AWS::S3::BucketPolicy").values() if p["Properties"]["Bucket"] == recordings
    ]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for p in policies
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    )


def test_calls_bus_is_named_for_the_stage(synthesized: Synthesized) -> None:
    _, bus = one(synthesized.template_json, "AWS::Events::EventBus")
    assert bus["Properties"]["Name"] == synthesized.stack.settings.resource_name("calls")


# --- TLS variant ------------------------------------------------------------------------------------


def test_with_a_certificate_the_alb_serves_wss_on_443_only(tls: Synthesized) -> None:
    _, listener = one(tls.template_json, "AWS::ElasticLoadBalancingV2::Listener")
    props = listener["Properties"]
    assert (props["Port"], props["Protocol"]) == (443, "HTTPS")
    assert props["Certificates"] == [{"CertificateArn": CERTIFICATE_ARN}]
    assert props["SslPolicy"].startswith("ELBSecurityPolicy-TLS13")
    _, group = one(tls.template_json, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert group["Properties"]["HealthCheckPath"] == "/healthz"
    ingress = [
        rule
        for sg in resources(Synthesized(None, None, None, tls.template_json, {}), "AWS::EC2::SecurityGroup").values()
        for rule in sg["Properties"].get("SecurityGroupIngress", [])
        if rule.get("CidrIp") == "0.0.0.0/0"
    ]
    assert [(r["FromPort"], r["ToPort"]) for r in ingress] == [(443, 443)]
    assert tls.stack.url == f"wss://{DOMAIN}/twilio"


def test_tls_variant_settings_reach_scaling_and_bedrock(tls: Synthesized) -> None:
    _, target = one(tls.template_json, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert target["Properties"]["MaxCapacity"] == 4
    assert any(
        p["Properties"]["TargetTrackingScalingPolicyConfiguration"].get("TargetValue") == 25
        for p in resources(
            Synthesized(None, None, None, tls.template_json, {}), "AWS::ApplicationAutoScaling::ScalingPolicy"
        ).values()
    )
    (bedrock,) = [s for s in task_role_statements(tls.template_json) if "bedrock:InvokeModel" in as_list(s["Action"])]
    text = json.dumps(bedrock["Resource"])
    assert "inference-profile/us.amazon.nova-micro-v1:0" in text
    assert ":bedrock:*::foundation-model/amazon.nova-micro-v1:0" in text


def test_tls_variant_passes_cdk_nag(tls: Synthesized) -> None:
    violations = [v for report in tls.validation_report["pluginReports"] for v in report.get("violations", [])]
    assert violations == []


# --- image ------------------------------------------------------------------------------------------


def test_dockerfile_copies_only_the_image_files_and_runs_as_non_root() -> None:
    dockerfile = (REPO_ROOT / "streaming-fargate" / "Dockerfile").read_text()
    for path in IMAGE_FILES:
        assert (REPO_ROOT / path).exists(), path
    sources = [
        source.rstrip("/")
        for line in re.findall(r"^COPY (?!--from)(.+)$", dockerfile, re.MULTILINE)
        for source in line.split()[:-1]
        if not source.startswith("--")
    ]
    assert sources and all(any(s == f or s.startswith(f"{f}/") for f in IMAGE_FILES) for s in sources), sources
    assert re.search(r"^FROM python:3\.11|^ARG PYTHON_IMAGE=python:3\.11", dockerfile, re.MULTILINE)
    assert 'CMAKE_ARGS="-DGGML_NATIVE=OFF"' in dockerfile
    runtime = dockerfile.split(" AS runtime", 1)[1]
    assert "build-essential" not in runtime and "cmake" not in runtime
    assert re.search(r"^USER (?!root)\w+", runtime, re.MULTILINE)
    assert 'CMD ["python", "-m", "streaming", "--host", "0.0.0.0", "--port", "8080"]' in runtime


def test_image_asset_is_built_from_the_dockerfile_with_an_allow_listed_context(synthesized: Synthesized) -> None:
    outdir = Path(synthesized.app.outdir)
    manifest = json.loads((outdir / f"{synthesized.stack.stack_name}.assets.json").read_text())
    (image,) = manifest["dockerImages"].values()
    assert image["source"]["dockerFile"] == "streaming-fargate/Dockerfile"
    staged = outdir / image["source"]["directory"]
    top = {p.name for p in staged.iterdir()}
    # CDK stages the root .dockerignore too (Docker reads it from the context); nothing else beyond the allow-list.
    assert top - {".dockerignore"} == {"requirements.txt", "chalicelib", "streaming-fargate"}
    assert not list(staged.rglob("__pycache__"))
