"""The infra building blocks on their own (no Chalice packaging): fast checks of each module's rules."""
from __future__ import annotations

import os
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms

from chalicelib.db.models import ALL_MODELS, Call, IdempotencyRecord, Sequence
from parley_infra.gateway_responses import gateway_responses
from parley_infra.nag import enable_nag
from parley_infra.settings import StageSettings
from parley_infra.tables import load_models, table_spec

QUEUE_ARN_PREFIX = "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:"


def test_table_spec_reads_keys_indexes_and_ttl_from_the_model() -> None:
    spec = table_spec(Call)
    assert spec.table_name == Call.Meta.table_name
    assert (spec.partition_key.name, spec.partition_key.type) == ("account_id", dynamodb.AttributeType.NUMBER)
    assert spec.sort_key is not None and spec.sort_key.name == "call_id"
    active, index = spec.indexes  # by name: active-by-account (live monitoring), by-agent
    assert (active.name, active.is_global) == ("active-by-account", True)
    assert active.partition_key is not None and active.partition_key.name == "active_account"
    assert (index.name, index.is_global, index.projection) == ("by-agent", True, dynamodb.ProjectionType.ALL)
    assert index.partition_key is not None and index.partition_key.name == "agent_key"
    assert index.partition_key.type == dynamodb.AttributeType.STRING
    assert spec.ttl_attribute is None
    assert table_spec(IdempotencyRecord).ttl_attribute == "expires_at"
    sequence = table_spec(Sequence)
    assert sequence.sort_key is None and sequence.indexes == ()


def test_every_model_has_a_spec_with_a_unique_construct_id() -> None:
    specs = [table_spec(model) for model in ALL_MODELS]
    assert len({spec.construct_id for spec in specs}) == len(ALL_MODELS)
    assert len({spec.table_name for spec in specs}) == len(ALL_MODELS)


def test_load_models_refuses_a_prefix_the_models_were_not_imported_with() -> None:
    assert load_models(os.environ["PARLEY_TABLE_PREFIX"]) == ALL_MODELS
    with pytest.raises(RuntimeError, match="imported before PARLEY_TABLE_PREFIX"):
        load_models("some-other-prefix")


def test_gateway_response_bodies_must_not_use_template_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    import chalicelib.api.gateway_errors as gateway

    monkeypatch.setitem(gateway.GATEWAY_ERRORS, "DEFAULT_4XX", (400, "bad", "costs $5"))
    with pytest.raises(ValueError, match="must not contain"):
        gateway_responses(gateway.GATEWAY_ERRORS)


def test_stage_names_are_checked() -> None:
    assert StageSettings.for_stage("dev").table_prefix == "parley-dev"
    assert StageSettings.for_stage("prod").resource_name("api-handler") == "parley-prod-api-handler"
    with pytest.raises(ValueError):
        StageSettings.for_stage("Prod_1")


def test_nag_fails_synth_on_an_unacknowledged_finding(tmp_path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Probe")
    kms.Key(stack, "UnrotatedKey", enable_key_rotation=False)
    enable_nag(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    assert "AwsSolutions-KMS5" in (tmp_path / "validation-report.json").read_text()


def test_packaged_chalice_finds_the_package_chalice_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chalice keeps its package directory private; ``PackagedChalice`` finds the one it adds under
    ``<cwd>/chalice.out``. A Chalice release that packages elsewhere fails this test (and synth)."""
    import json

    import chalice.api

    from parley_infra.api import PackagedChalice, packaged_template

    def package_app(project_dir: str, output_dir: str, stage: str, chalice_config: object = None) -> None:
        """A stand-in for ``chalice package``: writes the files where Chalice asks for them."""
        package = Path(output_dir)
        package.mkdir(parents=True)
        (package / "sam.json").write_text(json.dumps({"Resources": {"Probe": {"Type": "AWS::SNS::Topic"}}}))
        (package / "deployment.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip

    monkeypatch.setattr(chalice.api, "package_app", package_app)
    monkeypatch.chdir(tmp_path)
    stack = cdk.Stack(cdk.App(outdir=str(tmp_path / "cdk.out")), "Parts")
    first = PackagedChalice(stack, "Api", source_dir=str(tmp_path), stage_config={})
    second = PackagedChalice(stack, "Again", source_dir=str(tmp_path), stage_config={})
    assert first.package_dir.parent == second.package_dir.parent == tmp_path / "chalice.out"
    assert first.package_dir != second.package_dir
    assert packaged_template(first)["Resources"]["Probe"]["Type"] == "AWS::SNS::Topic"


def test_chalice_stage_config_keeps_the_project_stage_and_owns_iam_and_environment() -> None:
    import json

    from parley_infra.api import CHALICE_DEFAULTS, PLACEHOLDER_ROLE_ARN, chalice_stage_config
    from parley_infra.settings import REPO_ROOT

    project_dev = json.loads((REPO_ROOT / ".chalice" / "config.json").read_text())["stages"].get("dev", {})
    dev = chalice_stage_config(StageSettings.for_stage("dev"), {"PARLEY_TABLE_PREFIX": "parley-dev"})
    for key, value in project_dev.items():
        if key != "environment_variables":
            assert dev[key] == value
    assert dev["environment_variables"]["PARLEY_TABLE_PREFIX"] == "parley-dev"
    assert dev["environment_variables"]["POWERTOOLS_SERVICE_NAME"] == "parley"
    assert (dev["manage_iam_role"], dev["iam_role_arn"], dev["autogen_policy"]) == (False, PLACEHOLDER_ROLE_ARN, False)

    other = chalice_stage_config(StageSettings.for_stage("no-such-stage"), {})
    for key, value in CHALICE_DEFAULTS.items():
        assert other[key] == value


# --- settings from context ------------------------------------------------------------------------


def test_settings_from_context_with_defaults_and_overrides() -> None:
    from parley_infra.settings import DEFAULT_TWILIO_API_URL, StreamingSettings

    default = StageSettings.from_context(cdk.App(context={"stage": "prod"}).node)
    assert (default.stage, default.table_prefix, default.queue_prefix) == ("prod", "parley-prod", "parley-prod")
    assert (default.twilio_api_url, default.streaming_url) == (DEFAULT_TWILIO_API_URL, None)  # None: the ALB's URL
    assert default.streaming == StreamingSettings()
    assert not default.streaming.secure
    assert default.public_api_url is None and default.alarm_topic_arn is None
    custom = StageSettings.from_context(
        cdk.App(
            context={
                "stage": "dev",
                "twilioApiUrl": "https://carrier.example.com",
                "streamingUrl": "wss://stream.example.com/twilio",
                "publicApiUrl": "https://api.example.com",
                "alarmTopicArn": "arn:aws:sns:eu-west-1:123456789012:ops",
            }
        ).node
    )
    assert custom.twilio_api_url == "https://carrier.example.com"
    assert custom.streaming_url == "wss://stream.example.com/twilio"
    assert custom.public_api_url == "https://api.example.com"
    assert custom.alarm_topic_arn == "arn:aws:sns:eu-west-1:123456789012:ops"


@pytest.mark.parametrize(
    "context",
    [
        {"twilioApiUrl": "http://api.twilio.com"},
        {"streamingUrl": "https://stream.example.com"},
        {"publicApiUrl": "https://api.example.com/"},
        {"alarmTopicArn": "ops-topic"},
    ],
)
def test_settings_refuse_bad_urls_and_arns(context: dict) -> None:
    with pytest.raises(ValueError):
        StageSettings.from_context(cdk.App(context={"stage": "dev", **context}).node)


def test_streaming_settings_from_context_parse_numbers_and_keep_defaults() -> None:
    from parley_infra.settings import DEFAULT_BEDROCK_MODEL_ID, StreamingSettings

    default = StreamingSettings.from_context(cdk.App().node)
    assert default == StreamingSettings()
    assert (default.cpu, default.memory_mib, default.min_tasks, default.max_tasks, default.calls_per_task) == (
        2048, 4096, 1, 10, 40
    )
    assert default.bedrock_model_id == DEFAULT_BEDROCK_MODEL_ID and not default.secure
    custom = StageSettings.from_context(
        cdk.App(
            context={
                "streamingCertificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/abc-123",
                "streamingDomainName": "stream.example.com",
                "streamingMaxTasks": "20",  # -c values are strings
                "streamingCallsPerTask": 30,  # cdk.json values may be numbers
                "bedrockModelId": "eu.amazon.nova-lite-v1:0",
            }
        ).node
    ).streaming
    assert custom.secure and custom.domain_name == "stream.example.com"
    assert (custom.max_tasks, custom.calls_per_task, custom.bedrock_model_id) == (20, 30, "eu.amazon.nova-lite-v1:0")


@pytest.mark.parametrize(
    "context",
    [
        {"streamingCertificateArn": "my-cert"},
        {"streamingDomainName": "https://stream.example.com"},
        {"streamingCpu": "1536"},
        {"streamingCpu": "2048", "streamingMemoryMiB": "512"},
        {"streamingMinTasks": "3", "streamingMaxTasks": "2"},
        {"streamingMaxTasks": "many"},
        {"streamingCallsPerTask": "0"},
        {"streamingNatGateways": "3"},
    ],
)
def test_streaming_settings_refuse_bad_values(context: dict) -> None:
    with pytest.raises(ValueError):
        StageSettings.from_context(cdk.App(context=context).node)


def test_bedrock_grants_follow_the_model_id_kind() -> None:
    from parley_infra.streaming import bedrock_inference_profile, bedrock_model_arns

    assert bedrock_inference_profile("amazon.nova-micro-v1:0") is None
    assert bedrock_inference_profile("us.amazon.nova-micro-v1:0") == ("us", "amazon.nova-micro-v1:0")
    assert len(bedrock_model_arns("amazon.nova-micro-v1:0")) == 1
    assert len(bedrock_model_arns("global.anthropic.claude-haiku-4-5-20251001-v1:0")) == 2


# --- queues ---------------------------------------------------------------------------------------


def test_queue_names_follow_the_given_prefix_and_leave_the_environment_alone() -> None:
    from chalicelib.queues import DIALER
    from parley_infra.queues import queue_names

    before = os.environ.get("PARLEY_QUEUE_PREFIX")
    assert queue_names(DIALER, "parley-prod") == ("parley-prod-dialer", "parley-prod-dialer-dlq")
    assert os.environ.get("PARLEY_QUEUE_PREFIX") == before


def test_dlq_alarms_notify_the_configured_topic() -> None:
    from aws_cdk.assertions import Match, Template

    from chalicelib.queues import ALL_QUEUES
    from parley_infra.queues import ParleyQueues

    stack = cdk.Stack(cdk.App(), "Probe")
    topic = "arn:aws:sns:eu-west-1:123456789012:ops"
    ParleyQueues(stack, "Queues", prefix="parley-x", alarm_topic_arn=topic)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::CloudWatch::Alarm", len(ALL_QUEUES))
    template.all_resources_properties("AWS::CloudWatch::Alarm", {"AlarmActions": [topic]})
    template.has_resource_properties("AWS::SQS::Queue",
                                     {"QueueName": "parley-x-dialer", "RedrivePolicy": Match.any_value()})


# --- SQS event sources --------------------------------------------------------------------------


class _FakeChalice:
    """What ``connect_queue_consumers`` uses of ``chalice.cdk.Chalice``: the included SAM template."""

    def __init__(self, scope: cdk.Stack, template: dict, tmp_path) -> None:
        import json

        from aws_cdk import cloudformation_include

        path = tmp_path / "sam.json"
        path.write_text(json.dumps(template))
        self.sam_template = cloudformation_include.CfnInclude(scope, "ChaliceApp", template_file=str(path))


def _sam_template(queue: str, timeout: int = 29) -> dict:
    return {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "Worker": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Handler": "app.worker",
                    "Runtime": "python3.11",
                    "CodeUri": "./deployment.zip",
                    "Timeout": timeout,
                    "Events": {
                        "WorkerSqsEventSource": {
                            "Type": "SQS",
                            "Properties": {
                                "Queue": {"Fn::Sub": f"{QUEUE_ARN_PREFIX}{queue}"},
                                "BatchSize": 10,
                            },
                        }
                    },
                },
            }
        },
    }


def _connect(tmp_path, template: dict, consumes):
    from aws_cdk import aws_iam as iam

    from parley_infra.api import FunctionSetup
    from parley_infra.event_sources import connect_queue_consumers
    from parley_infra.queues import ParleyQueues

    app = cdk.App(outdir=str(tmp_path / "out"))
    stack = cdk.Stack(app, "Probe")
    queues = ParleyQueues(stack, "Queues", prefix="parley-x")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    fake = _FakeChalice(stack, template, tmp_path)
    setups = {"Worker": FunctionSetup("parley-x-worker", role, {}, consumes=consumes)}
    connect_queue_consumers(fake, template, setups, queues)  # type: ignore[arg-type]
    return app, stack


def test_event_source_gets_the_stack_queue_and_reports_item_failures(tmp_path) -> None:
    from aws_cdk.assertions import Template

    from chalicelib.queues import DIALER

    _, stack = _connect(tmp_path, _sam_template("parley-x-dialer"), DIALER)
    (worker,) = Template.from_stack(stack).find_resources("AWS::Serverless::Function").values()
    props = worker["Properties"]["Events"]["WorkerSqsEventSource"]["Properties"]
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["Queue"]["Fn::GetAtt"][1] == "Arn" and "Dialer" in props["Queue"]["Fn::GetAtt"][0]


@pytest.mark.parametrize(
    ("queue", "consumes", "timeout", "message"),
    [
        ("parley-x-dialer", None, 29, "declare it"),
        ("parley-x-dialer", "CAMPAIGN_OPS", 29, "declare it"),
        ("parley-y-dialer", "DIALER", 29, "not one of the stack's queues"),
        ("parley-x-dialer", "DIALER", 61, "visibility timeout 60s is shorter"),
    ],
)
def test_event_source_mistakes_stop_synth(tmp_path, queue: str, consumes, timeout: int, message: str) -> None:
    import chalicelib.queues as app_queues

    with pytest.raises(ValueError, match=message):
        _connect(tmp_path, _sam_template(queue, timeout), getattr(app_queues, consumes) if consumes else None)


# --- Parley's template checks ---------------------------------------------------------------------


def test_partial_batch_check_finds_sqs_sources_without_item_failures() -> None:
    from parley_infra.checks import sqs_sources_without_partial_batch

    template = {
        "Resources": {
            "Q": {"Type": "AWS::SQS::Queue"},
            "Stream": {"Type": "AWS::Kinesis::Stream"},
            "Good": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Events": {
                        "E": {"Type": "SQS",
                              "Properties": {"Queue": "q", "FunctionResponseTypes": ["ReportBatchItemFailures"]}},
                        "S": {"Type": "Schedule", "Properties": {"Schedule": "rate(1 minute)"}},
                    }
                },
            },
            "Bad": {"Type": "AWS::Serverless::Function",
                    "Properties": {"Events": {"E": {"Type": "SQS", "Properties": {}}}}},
            "BadMapping": {"Type": "AWS::Lambda::EventSourceMapping",
                           "Properties": {"EventSourceArn": {"Fn::GetAtt": ["Q", "Arn"]}}},
            "BadByArn": {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {"EventSourceArn": {"Fn::Sub": f"{QUEUE_ARN_PREFIX}q"}},
            },
            "KinesisMapping": {"Type": "AWS::Lambda::EventSourceMapping",
                               "Properties": {"EventSourceArn": {"Fn::GetAtt": ["Stream", "Arn"]}}},
        }
    }
    assert sorted(sqs_sources_without_partial_batch(template)) == [
        ("Bad", "Properties/Events/E/Properties/FunctionResponseTypes"),
        ("BadByArn", "Properties/FunctionResponseTypes"),
        ("BadMapping", "Properties/FunctionResponseTypes"),
    ]


def test_synth_fails_on_an_sqs_consumer_without_item_failures(tmp_path) -> None:
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_sqs as sqs

    from parley_infra.checks import PARTIAL_BATCH_RULE, enable_checks

    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Probe")
    queue = sqs.Queue(stack, "Queue")
    lambda_.CfnEventSourceMapping(stack, "Mapping", function_name="f", event_source_arn=queue.queue_arn)
    enable_checks(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    assert PARTIAL_BATCH_RULE in (tmp_path / "validation-report.json").read_text()
