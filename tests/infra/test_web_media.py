"""Web calls in AWS: the ``/web/offer`` route on the streaming ALB, the TURN relay the browser and the task
share (KVS managed TURN by default, configured ICE servers with ``webMedia=ice-servers``), who may fetch TURN
credentials, and gateway errors a page can read.

The session's stack (``synthesized``) is the default: ``kvs-turn``, no certificate. The ``ice-servers`` variant
is the whole stack again, built from CDK context (with a certificate and a domain name), once for this module.
"""
from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Match

from parley_infra.settings import StageSettings
from parley_infra.web_media import KVS_TURN_ACTIONS
from parley_infra.web_media_settings import ICE_SERVERS, KVS_TURN, IceServer, WebMediaSettings
from tests.infra.conftest import Synthesized, synthesize
from tests.infra.helpers import SAM_FUNCTION, as_list, function_roles, logical_id, resources, role_policies

CERTIFICATE_ARN = "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-aaaa-bbbb-cccc-123456789abc"
DOMAIN = "stream.example.com"
COTURN = [
    {"urls": "turn:turn.example.com:3478?transport=udp", "username": "parley", "credential": "relay-only"},
    {"urls": ["turns:turn.example.com:5349?transport=tcp", "stun:turn.example.com:3478"],
     "username": "parley", "credential": "relay-only"},
]
COTURN_JSON = (
    '[{"urls":["turn:turn.example.com:3478?transport=udp"],"username":"parley","credential":"relay-only"},'
    '{"urls":["turns:turn.example.com:5349?transport=tcp","stun:turn.example.com:3478"],'
    '"username":"parley","credential":"relay-only"}]'
)
"""``PARLEY_ICE_SERVERS`` for ``COTURN``: compact, every ``urls`` a list (the ``RTCIceServer`` shape pages use)."""

WEB_VARIABLES = ("PARLEY_WEB_OFFER_URL", "PARLEY_KVS_TURN_CHANNEL_ARN", "PARLEY_ICE_SERVERS")


def _template(template_json: dict[str, Any]) -> Synthesized:
    return Synthesized(None, None, None, template_json, {})


def function_variables(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        name: function["Properties"]["Environment"]["Variables"]
        for name, function in resources(synthesized, SAM_FUNCTION).items()
    }


def container_variables(synthesized: Synthesized) -> dict[str, Any]:
    (task,) = resources(synthesized, "AWS::ECS::TaskDefinition").values()
    (definition,) = task["Properties"]["ContainerDefinitions"]
    return {v["Name"]: v["Value"] for v in definition["Environment"]}


def task_role_id(synthesized: Synthesized) -> str:
    (task,) = resources(synthesized, "AWS::ECS::TaskDefinition").values()
    return task["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]


def channel_arn(synthesized: Synthesized) -> dict[str, Any]:
    stack = synthesized.stack
    return {"Fn::GetAtt": [stack.resolve(stack.get_logical_id(stack.web_media.channel)), "Arn"]}


def kinesis_video_statements(synthesized: Synthesized) -> list[dict[str, Any]]:
    """Every statement, of any policy, that names a Kinesis Video Streams action."""
    return [
        statement
        for policy in resources(synthesized, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if any(action.startswith("kinesisvideo:") for action in as_list(statement["Action"]))
    ]


def forwarding_rules(synthesized: Synthesized) -> dict[str, Any]:
    """Path pattern -> target group of each forwarding rule of the streaming listener."""
    rules: dict[str, Any] = {}
    for rule in resources(synthesized, "AWS::ElasticLoadBalancingV2::ListenerRule").values():
        (action,) = rule["Properties"]["Actions"]
        if action["Type"] != "forward":
            continue
        for condition in rule["Properties"]["Conditions"]:
            for pattern in condition.get("PathPatternConfig", {}).get("Values", condition.get("Values", [])):
                rules[pattern] = action["TargetGroupArn"]
    return rules


@pytest.fixture(scope="module")
def ice_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    """The whole stack with ``-c webMedia=ice-servers -c iceServers=<JSON>`` and a certificate."""
    from parley_infra.build import build_app

    work = tmp_path_factory.mktemp("infra-ice-servers")
    outdir = work / "cdk.out"
    app = cdk.App(
        outdir=str(outdir),
        context={
            "stage": "ice",
            "webMedia": "ice-servers",
            "iceServers": json.dumps(COTURN),  # -c values are strings
            "streamingCertificateArn": CERTIFICATE_ARN,
            "streamingDomainName": DOMAIN,
        },
    )
    # The models name their tables with this process's prefix (read at import): build the stack with it.
    settings = dataclasses.replace(
        StageSettings.from_context(app.node), table_prefix=os.environ["PARLEY_TABLE_PREFIX"]
    )
    app, stack = build_app(settings, work_dir=work / "chalice", app=app)
    yield synthesize(app, stack, outdir)


# --- kvs-turn (the default) -------------------------------------------------------------------------


def test_default_stack_creates_one_kvs_signaling_channel_for_its_turn_service(synthesized: Synthesized) -> None:
    assert synthesized.stack.settings.web_media.mode == KVS_TURN
    (channel,) = resources(synthesized, "AWS::KinesisVideo::SignalingChannel").values()
    props = channel["Properties"]
    assert props["Name"] == synthesized.stack.settings.resource_name("web-turn")
    assert (props["Type"], props["MessageTtlSeconds"]) == ("SINGLE_MASTER", 60)
    assert synthesized.template_json["Outputs"]["WebTurnChannelArn"]["Value"] == channel_arn(synthesized)


def test_only_the_api_handler_and_the_task_fetch_turn_credentials_of_that_channel(synthesized: Synthesized) -> None:
    """Exactly GetSignalingChannelEndpoint and GetIceServerConfig, on the one channel: no other channel or
    stream, no other KVS action, no other role."""
    expected = {"Effect": "Allow", "Action": sorted(KVS_TURN_ACTIONS), "Resource": channel_arn(synthesized)}
    assert sorted(KVS_TURN_ACTIONS) == ["kinesisvideo:GetIceServerConfig", "kinesisvideo:GetSignalingChannelEndpoint"]
    roles = {"APIHandler": function_roles(synthesized)["APIHandler"], "task": task_role_id(synthesized)}
    for name, role_id in roles.items():
        statements = [
            {**s, "Action": sorted(as_list(s["Action"]))}
            for s in role_policies(synthesized, role_id)
            if any(a.startswith("kinesisvideo:") for a in as_list(s["Action"]))
        ]
        assert statements == [expected], name
    assert len(kinesis_video_statements(synthesized)) == 2  # no third role may fetch credentials


def test_api_handler_gets_the_offer_url_and_the_channel(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    alb_id = logical_id(stack, stack.streaming.load_balancer)
    offer_url = {"Fn::Join": ["", ["http://", {"Fn::GetAtt": [alb_id, "DNSName"]}, "/web/offer"]]}
    variables = function_variables(synthesized)
    handler = variables.pop("APIHandler")
    assert handler["PARLEY_WEB_OFFER_URL"] == offer_url
    assert handler["PARLEY_KVS_TURN_CHANNEL_ARN"] == channel_arn(synthesized)
    assert "PARLEY_ICE_SERVERS" not in handler
    for name, others in variables.items():  # the authorizer, workers and scheduler start no web calls
        assert not set(WEB_VARIABLES) & set(others), name
    assert synthesized.template_json["Outputs"]["WebOfferUrl"]["Value"] == offer_url


def test_streaming_task_gets_the_channel(synthesized: Synthesized) -> None:
    variables = container_variables(synthesized)
    assert variables["PARLEY_KVS_TURN_CHANNEL_ARN"] == channel_arn(synthesized)
    assert "PARLEY_ICE_SERVERS" not in variables
    assert "PARLEY_WEB_OFFER_URL" not in variables  # the task is the offer URL; it needs no pointer to itself


def test_alb_forwards_the_web_offer_to_the_streaming_target_group(synthesized: Synthesized) -> None:
    """``POST /web/offer`` (and its CORS preflight) reach the same tasks as ``/twilio`` (and WhatsApp's two
    endpoints, ``tests/infra/test_whatsapp_media.py``); only those exact paths are forwarded, so ``/stats`` and the
    rest stay answered 404 by the listener."""
    (target_group_id,) = resources(synthesized, "AWS::ElasticLoadBalancingV2::TargetGroup")
    streaming = {"Ref": target_group_id}
    assert forwarding_rules(synthesized) == {"/twilio": streaming, "/web/offer": streaming,
                                             "/whatsapp/answer": streaming, "/whatsapp/offer": streaming}
    (listener,) = resources(synthesized, "AWS::ElasticLoadBalancingV2::Listener").values()
    (default,) = listener["Properties"]["DefaultActions"]
    assert default["Type"] == "fixed-response" and default["FixedResponseConfig"]["StatusCode"] == "404"


def test_tasks_reach_turn_relays_outbound_and_stay_private(synthesized: Synthesized) -> None:
    """Media leaves a task through the NAT gateway to the relay (UDP/TCP 443 for KVS, 3478/5349 for coturn):
    the task's security group allows all egress and admits nothing from the internet; the task has no public IP."""
    (service,) = resources(synthesized, "AWS::ECS::Service").values()
    network = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "DISABLED"
    (task_group,) = network["SecurityGroups"]
    group_id = task_group["Fn::GetAtt"][0]
    group = synthesized.template_json["Resources"][group_id]["Properties"]
    assert group["SecurityGroupEgress"] == [
        {"CidrIp": "0.0.0.0/0", "Description": "Allow all outbound traffic by default", "IpProtocol": "-1"}
    ]
    assert "SecurityGroupIngress" not in group
    ingress = [
        rule["Properties"]
        for rule in resources(synthesized, "AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"]["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}
    ]
    assert ingress and all("SourceSecurityGroupId" in rule and "CidrIp" not in rule for rule in ingress)
    assert {(rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) for rule in ingress} == {("tcp", 8080, 8080)}


def test_without_a_certificate_synth_warns_that_pages_cannot_reach_the_offer_url(synthesized: Synthesized) -> None:
    warnings = Annotations.from_stack(synthesized.stack).find_warning("*", Match.string_like_regexp("web calls"))
    assert len(warnings) == 1


def test_every_gateway_response_lets_pages_read_the_error(synthesized: Synthesized) -> None:
    """A browser calling ``POST /api/v1/web-calls`` sees a rejected key's or a throttle's JSON error only if the
    gateway's own response carries CORS headers."""
    (rest_api,) = resources(synthesized, "AWS::Serverless::Api").values()
    responses = rest_api["Properties"]["DefinitionBody"]["x-amazon-apigateway-gateway-responses"]
    assert {"UNAUTHORIZED", "ACCESS_DENIED", "THROTTLED", "DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)
    for kind, response in responses.items():
        assert response["responseParameters"] == {"gatewayresponse.header.Access-Control-Allow-Origin": "'*'"}, kind


# --- ice-servers (context) ----------------------------------------------------------------------------


def test_ice_servers_context_switches_the_relay(ice_servers: Synthesized) -> None:
    assert ice_servers.stack.settings.web_media.mode == ICE_SERVERS
    assert resources(ice_servers, "AWS::KinesisVideo::SignalingChannel") == {}
    assert kinesis_video_statements(ice_servers) == []
    assert "WebTurnChannelArn" not in ice_servers.template_json["Outputs"]


def test_ice_servers_reach_the_api_handler_and_the_task(ice_servers: Synthesized) -> None:
    variables = function_variables(ice_servers)
    handler = variables.pop("APIHandler")
    assert handler["PARLEY_ICE_SERVERS"] == COTURN_JSON
    assert json.loads(COTURN_JSON) == [IceServer.from_json(server).as_json() for server in COTURN]
    assert handler["PARLEY_WEB_OFFER_URL"] == f"https://{DOMAIN}/web/offer"
    assert "PARLEY_KVS_TURN_CHANNEL_ARN" not in handler
    for name, others in variables.items():
        assert not set(WEB_VARIABLES) & set(others), name
    task = container_variables(ice_servers)
    assert task["PARLEY_ICE_SERVERS"] == COTURN_JSON
    assert "PARLEY_KVS_TURN_CHANNEL_ARN" not in task
    assert ice_servers.template_json["Outputs"]["WebOfferUrl"]["Value"] == f"https://{DOMAIN}/web/offer"
    assert forwarding_rules(ice_servers).keys() == {"/twilio", "/web/offer", "/whatsapp/answer", "/whatsapp/offer"}


def test_ice_servers_variant_passes_cdk_nag(ice_servers: Synthesized) -> None:
    violations = [v for report in ice_servers.validation_report["pluginReports"] for v in report.get("violations", [])]
    assert violations == []
    assert Annotations.from_stack(ice_servers.stack).find_error("*", Match.any_value()) == []
    # With a certificate the offer URL is https: no mixed-content warning.
    assert Annotations.from_stack(ice_servers.stack).find_warning("*", Match.string_like_regexp("web calls")) == []


# --- settings -------------------------------------------------------------------------------------------


def test_web_media_settings_from_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_ICE_SERVERS", json.dumps(COTURN))
    default = StageSettings.from_context(cdk.App(context={"stage": "dev"}).node).web_media
    assert default == WebMediaSettings() and default.mode == KVS_TURN  # the environment is for ice-servers only
    from_env = StageSettings.from_context(cdk.App(context={"webMedia": "ice-servers"}).node).web_media
    assert from_env.ice_servers_json == COTURN_JSON
    listed = StageSettings.from_context(  # cdk.json may hold the list itself
        cdk.App(context={"webMedia": "ice-servers", "iceServers": COTURN[:1],
                         "webOfferUrl": "https://talk.example.com/web/offer"}).node
    ).web_media
    assert listed.ice_servers == (IceServer(("turn:turn.example.com:3478?transport=udp",), "parley", "relay-only"),)
    assert listed.offer_url == "https://talk.example.com/web/offer"


def test_ice_servers_mode_needs_servers_from_context_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARLEY_ICE_SERVERS", raising=False)
    with pytest.raises(ValueError, match="at least one turn"):
        StageSettings.from_context(cdk.App(context={"webMedia": "ice-servers"}).node)


def _ice(servers: object) -> dict[str, Any]:
    """``ice-servers`` context with ``servers`` (a JSON string as ``-c`` gives it, or the list to encode)."""
    return {"webMedia": "ice-servers", "iceServers": servers if isinstance(servers, str) else json.dumps(servers)}


TURN = {"urls": "turn:t.example.com", "username": "u", "credential": "c"}


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"webMedia": "public-ips"}, "webMedia must be one of"),
        ({"iceServers": json.dumps(COTURN)}, "only used with webMedia=ice-servers"),
        (_ice("turn:turn.example.com"), "JSON list"),
        ({"webMedia": "ice-servers", "iceServers": TURN}, "JSON list"),
        (_ice([{"urls": "stun:stun.example.com"}]), "at least one turn"),  # STUN alone cannot reach a private task
        (_ice([{"urls": "turn:turn.example.com"}]), "username and a credential"),
        (_ice([{**TURN, "url": TURN["urls"]}]), "unknown keys"),
        (_ice([{**TURN, "urls": "https://turn.example.com"}]), "not a stun:, stuns:, turn: or turns: URL"),
        (_ice([{**TURN, "urls": []}]), "1 to 16 URLs"),
        (_ice([{**TURN, "urls": [TURN["urls"]] * 17}]), "1 to 16 URLs"),
        (_ice([{**TURN, "username": ""}]), "username must be a string of 1 to 512"),
        (_ice([{**TURN, "credential": 42}]), "credential must be a string"),
        (_ice([{**TURN, "credential": "c" * 1025}]), "credential must be a string of 1 to 1024"),
        (_ice([{**TURN, "credential": "c" * 1000}, {**TURN, "credential": "c" * 1000}]), "characters of JSON"),
        ({"webOfferUrl": "http://stream.example.com/web/offer"}, "webOfferUrl must be an https"),
    ],
)
def test_web_media_settings_refuse_bad_values(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StageSettings.from_context(cdk.App(context={"stage": "dev", **context}).node)
