"""WhatsApp calls in AWS: the streaming ALB forwards exactly ``/whatsapp/answer`` and ``/whatsapp/offer`` to the
streaming tasks, the Lambdas that answer and place WhatsApp calls know that base URL, and the task may hang a
call up (a number's sealed access token: attribute-limited read, account-bound decrypt)."""
from __future__ import annotations

from typing import Any

from tests.infra.conftest import Synthesized
from tests.infra.helpers import SAM_FUNCTION, logical_id, resources
from tests.infra.test_web_media import forwarding_rules


def _variables(synthesized: Synthesized, function_id: str) -> dict[str, Any]:
    return resources(synthesized, SAM_FUNCTION)[function_id]["Properties"]["Environment"]["Variables"]


def test_the_alb_forwards_the_two_whatsapp_endpoints_to_the_streaming_tasks(synthesized: Synthesized) -> None:
    (target_group_id,) = resources(synthesized, "AWS::ElasticLoadBalancingV2::TargetGroup")
    rules = forwarding_rules(synthesized)
    assert rules["/whatsapp/answer"] == rules["/whatsapp/offer"] == {"Ref": target_group_id}
    (rule,) = [r for r in resources(synthesized, "AWS::ElasticLoadBalancingV2::ListenerRule").values()
               if "/whatsapp/answer" in str(r["Properties"]["Conditions"])]
    assert rule["Properties"]["Priority"] == 30


def test_the_lambdas_that_answer_and_place_whatsapp_calls_get_the_media_url(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    alb = logical_id(stack, stack.streaming.load_balancer)
    expected = {"Fn::Join": ["", ["http://", {"Fn::GetAtt": [alb, "DNSName"]}, "/whatsapp"]]}
    for function_id in resources(synthesized, SAM_FUNCTION):
        variables = _variables(synthesized, function_id)
        if function_id in ("APIHandler", "DialerWorker"):
            assert variables["PARLEY_WHATSAPP_MEDIA_URL"] == expected, function_id
        else:
            assert "PARLEY_WHATSAPP_MEDIA_URL" not in variables, function_id
