"""Throttling: the stage's method throttle, a usage plan that throttles each account (its API Gateway key comes
from the authorizer), and reserved concurrency for the queue workers matched by their event sources."""
from __future__ import annotations

import aws_cdk as cdk
import pytest

from parley_infra.settings import StageSettings, ThrottleSettings
from tests.infra.conftest import Synthesized
from tests.infra.helpers import SAM_FUNCTION, resources

WORKERS = {
    "DialerWorker": "dialer_concurrency",
    "CampaignOpsWorker": "campaign_ops_concurrency",
    "CallEventsWorker": "call_events_concurrency",
    "DeliveryWorker": "delivery_concurrency",
}
"""Queue consumer -> its ``ThrottleSettings`` field."""


def _rest_api(synthesized: Synthesized) -> dict:
    (rest_api,) = resources(synthesized, "AWS::Serverless::Api").values()
    return rest_api["Properties"]


def test_every_method_of_the_stage_is_throttled(synthesized: Synthesized) -> None:
    throttle = synthesized.stack.settings.throttling
    (settings,) = _rest_api(synthesized)["MethodSettings"]
    assert (settings["ResourcePath"], settings["HttpMethod"]) == ("/*", "*")
    assert settings["ThrottlingRateLimit"] == throttle.api_rate_limit
    assert settings["ThrottlingBurstLimit"] == throttle.api_burst_limit


def test_a_usage_plan_throttles_each_account_on_the_stage(synthesized: Synthesized) -> None:
    throttle = synthesized.stack.settings.throttling
    plans = resources(synthesized, "AWS::ApiGateway::UsagePlan")
    assert len(plans) == 1
    ((plan_id, plan),) = plans.items()
    props = plan["Properties"]
    assert props["Throttle"] == {"RateLimit": throttle.account_rate_limit, "BurstLimit": throttle.account_burst_limit}
    # The stage SAM generates, named through SAM's ``<Api>.Stage`` reference (which also orders the plan after it).
    assert props["ApiStages"] == [{"ApiId": {"Ref": "RestAPI"}, "Stage": {"Ref": "RestAPI.Stage"}}]
    assert synthesized.template_json["Outputs"]["UsagePlanId"]["Value"] == {"Ref": plan_id}


def test_authorized_methods_meter_the_key_the_authorizer_returns(synthesized: Synthesized) -> None:
    body = _rest_api(synthesized)["DefinitionBody"]
    assert body["x-amazon-apigateway-api-key-source"] == "AUTHORIZER"
    assert body["securityDefinitions"]["api_key"] == {"type": "apiKey", "name": "x-api-key", "in": "header"}
    authorized, public = [], []
    for path, operations in body["paths"].items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "x-amazon-apigateway-integration" not in operation:
                continue
            names = {name for requirement in operation.get("security", []) for name in requirement}
            (authorized if "api_key_auth" in names else public).append((path, method))
            assert ("api_key" in names) == ("api_key_auth" in names), (path, method)
    assert ("/api/v1/agents", "get") in authorized
    assert ("/api/v1/telephony/twilio/status/{account_id}/{call_id}", "post") in public


@pytest.mark.parametrize("function", sorted(WORKERS))
def test_queue_workers_have_reserved_concurrency_their_event_source_respects(
        synthesized: Synthesized, function: str) -> None:
    expected = getattr(synthesized.stack.settings.throttling, WORKERS[function])
    assert expected is not None
    props = resources(synthesized, SAM_FUNCTION)[function]["Properties"]
    assert props["ReservedConcurrentExecutions"] == expected
    events = [event for event in props["Events"].values() if event["Type"] == "SQS"]
    assert events and all(e["Properties"]["ScalingConfig"] == {"MaximumConcurrency": expected} for e in events)


def test_the_api_handler_and_authorizer_share_the_unreserved_pool(synthesized: Synthesized) -> None:
    functions = resources(synthesized, SAM_FUNCTION)
    for function in ("APIHandler", "ApiKeyAuth"):
        assert "ReservedConcurrentExecutions" not in functions[function]["Properties"]


# --- settings --------------------------------------------------------------------------------------


def test_throttle_settings_from_context() -> None:
    default = StageSettings.from_context(cdk.App(context={"stage": "prod"}).node)
    assert default.throttling == ThrottleSettings()
    custom = StageSettings.from_context(cdk.App(context={
        "stage": "prod", "apiRateLimit": "500", "apiBurstLimit": 1000, "accountRateLimit": "50",
        "accountBurstLimit": "100", "dialerReservedConcurrency": "20", "deliveryReservedConcurrency": "none",
    }).node).throttling
    assert (custom.api_rate_limit, custom.api_burst_limit, custom.account_rate_limit, custom.account_burst_limit) == (
        500, 1000, 50, 100)
    assert custom.dialer_concurrency == 20 and custom.delivery_concurrency is None
    assert custom.campaign_ops_concurrency == ThrottleSettings().campaign_ops_concurrency


@pytest.mark.parametrize("context", [
    {"apiRateLimit": "0"},
    {"apiBurstLimit": "lots"},
    {"accountRateLimit": "1000"},  # above the stage's rate: the account limit would never bind
    {"accountBurstLimit": "5000"},
    {"dialerReservedConcurrency": "1"},  # an SQS event source needs at least 2
    {"deliveryReservedConcurrency": "-3"},
])
def test_throttle_settings_refuse_bad_values(context: dict) -> None:
    with pytest.raises(ValueError):
        StageSettings.from_context(cdk.App(context={"stage": "prod", **context}).node)

