"""call.completed on the bus -> a signed webhook at the receiver, through the real queues and workers."""
from __future__ import annotations

import pytest
from standardwebhooks.webhooks import Webhook

from chalicelib import queues
from chalicelib.db.models import PostCallAction
from chalicelib.delivery import fanout, records
from tests.post_call.pipeline import (
    add_action,
    all_deliveries,
    completed_event,
    deliveries,
    dlq_messages,
    make_agent,
    put_events,
    queues_empty,
    running,
    runtime,
    wait_until,
    with_settings,
)
from tests.post_call.receivers import Receiver, always


def test_a_completed_call_reaches_its_webhook_signed_and_every_attempt_is_recorded(receiver: Receiver) -> None:
    make_agent()
    _, secret = add_action(1, 1, type="webhook", url=receiver.url)
    with running(runtime()):
        put_events([completed_event(501)])
        assert wait_until(lambda: [d.status for d in deliveries(1, 501)] == ["succeeded"], 20)
    [request] = receiver.received
    Webhook(secret).verify(request.body, request.headers)  # raises unless signed per Standard Webhooks
    assert request.headers["webhook-id"] == records.webhook_id(501, 1)
    assert request.json["call_id"] == 501 and request.json["summary"].startswith("The caller booked")
    [delivery] = deliveries(1, 501)
    [attempt] = delivery.attempts
    assert (attempt["attempt"], attempt["outcome"], attempt["status_code"]) == (1, "succeeded", 200)
    assert attempt["latency_ms"] > 0 and attempt["error"] is None and delivery.delivered_at is not None


def test_only_enabled_actions_whose_trigger_statuses_match_get_a_delivery(receiver: Receiver) -> None:
    make_agent()
    add_action(1, 1, type="webhook", url=receiver.url + "/completed")
    add_action(1, 1, type="webhook", url=receiver.url + "/busy", trigger_call_statuses=["busy", "no_answer"])
    add_action(1, 1, type="webhook", url=receiver.url + "/off", trigger_call_statuses=["busy"], enabled=False)
    with running(runtime()):
        put_events([completed_event(502, status="busy", transcript=[], full_conversation="")])
        assert wait_until(lambda: [d.status for d in deliveries(1, 502)] == ["succeeded"], 20)
    assert [r.path for r in receiver.received] == ["/hooks/busy"]


def test_a_redelivered_event_or_message_never_sends_again_after_a_success(receiver: Receiver) -> None:
    make_agent()
    add_action(1, 1, type="webhook", url=receiver.url)
    envelope = {"detail-type": "call.completed", "detail": completed_event(503)}
    assert fanout.fan_out(envelope) == 1
    with running(runtime()):
        assert wait_until(lambda: [d.status for d in deliveries(1, 503)] == ["succeeded"], 20)
        assert fanout.fan_out(envelope) == 0  # the same event again: nothing new, nothing queued
        put_events([completed_event(503)])  # and through the bus
        queues.send(queues.DELIVERIES, {"account_id": 1, "call_id": 503, "action_id": 1})  # a duplicate message
        assert wait_until(lambda: queues_empty(), 20)
    assert len(receiver.received) == 1
    assert len(deliveries(1, 503)[0].attempts) == 1


def test_a_410_disables_the_action_and_ends_the_delivery(receiver: Receiver) -> None:
    receiver.behaviour = always(410)
    make_agent()
    action, _ = add_action(1, 1, type="webhook", url=receiver.url)
    with running(runtime()):
        put_events([completed_event(504)])
        assert wait_until(lambda: [d.status for d in deliveries(1, 504)] == ["gone"], 20)
    assert PostCallAction.get(action.agent_key, action.action_id).config["enabled"] is False
    assert len(receiver.received) == 1 and dlq_messages() == []


def test_a_receiver_that_always_fails_gets_every_scheduled_attempt_then_the_dlq(receiver: Receiver) -> None:
    receiver.behaviour = always(503)
    make_agent()
    add_action(1, 1, type="webhook", url=receiver.url)
    with running(with_settings(retry_schedule_s=(0, 0.5, 1))):
        put_events([completed_event(600 + n) for n in range(5)])
        assert wait_until(lambda: sorted(d.status for d in all_deliveries()) == ["failed"] * 5, 30)
    for delivery in all_deliveries():
        assert [a["attempt"] for a in delivery.attempts] == [1, 2, 3, 4]
        assert [a["outcome"] for a in delivery.attempts] == ["retry", "retry", "retry", "failed"]
        assert all(a["status_code"] == 503 and a["error"] for a in delivery.attempts)
    parked = dlq_messages()
    assert sorted(m["call_id"] for m in parked) == [600, 601, 602, 603, 604]
    assert all(m["attempts"] == 4 and m["webhook_id"].startswith("msg_") for m in parked)
    assert len(receiver.received) == 20


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/hooks", "http://10.0.0.1/hooks", "http://169.254.169.254/latest/meta-data/",
])
def test_private_targets_are_refused_and_recorded_without_retry(aws: None, url: str) -> None:
    make_agent()
    add_action(1, 1, type="webhook", url=url)
    with running(with_settings(allowed_networks=())):
        put_events([completed_event(700)])
        assert wait_until(lambda: [d.status for d in deliveries(1, 700)] == ["refused"], 20)
    [delivery] = deliveries(1, 700)
    [attempt] = delivery.attempts
    assert attempt["outcome"] == "refused" and attempt["status_code"] is None
    assert url.split("/")[2].split(":")[0] in attempt["error"] and "refused" in attempt["error"]
    assert dlq_messages() == []


def test_a_hostname_resolving_to_a_private_address_and_a_redirect_to_one_are_refused_and_recorded(
        receiver: Receiver) -> None:
    from dataclasses import replace

    from chalicelib.delivery import sender
    from chalicelib.delivery.safe_http import SafeHttp
    from tests.post_call.pipeline import LOCAL

    receiver.behaviour, receiver.redirect_to = always(307), "http://169.254.169.254/latest/meta-data/"
    make_agent()
    add_action(1, 1, type="webhook", url="http://hooks.internal.example/calls")  # resolves to 10.0.0.1
    add_action(1, 1, type="webhook", url=receiver.url)  # allowed itself, redirects to 169.254.169.254
    settings = replace(LOCAL, allowed_networks=("127.0.0.1/32",))
    resolve = {"hooks.internal.example": ["10.0.0.1"], "127.0.0.1": ["127.0.0.1"]}
    rt = sender.Runtime(settings=settings, http=SafeHttp(allowed_networks=settings.allowed_networks,
                                                         resolver=lambda host, port: resolve[host]))
    with running(rt):
        put_events([completed_event(701)])
        assert wait_until(lambda: sorted(d.status for d in deliveries(1, 701)) == ["refused", "refused"], 20)
    errors = {d.action_id: d.attempts[-1]["error"] for d in deliveries(1, 701)}
    assert "10.0.0.1" in errors[1] and "private" in errors[1]
    assert "redirect" in errors[2] and "169.254.169.254" in errors[2]
    assert len(receiver.received) == 1 and dlq_messages() == []
