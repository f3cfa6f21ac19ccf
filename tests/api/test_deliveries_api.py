"""Deliveries over the API: a call's deliveries with attempts, replays, test sends and secret rotation."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from chalicelib.db.models import Call, Delivery
from chalicelib.delivery import fanout, records, sender
from chalicelib.delivery.contract import DeliverySettings
from chalicelib.delivery.sample import sample_call_completed
from tests.conftest import AGENT, Tenant
from tests.post_call.pipeline import LOCAL, runtime
from tests.post_call.receivers import Receiver, always, serve


@pytest.fixture()
def receiver(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PARLEY_DELIVERY_ALLOWED_NETWORKS", "127.0.0.0/8")  # as on the local stack
    with serve(Receiver()) as server:
        yield server


def _webhook(tenant: Tenant, url: str) -> tuple[int, dict]:
    agent = tenant.post("agents/create", json=AGENT).json()["id"]
    action = tenant.post(f"agents/{agent}/post-call-actions", json={"type": "webhook", "url": url}).json()
    return agent, action


def _completed_call(tenant: Tenant, agent: int, call_id: int, settings: DeliverySettings = LOCAL) -> None:
    """A finished call of ``tenant`` whose call.completed was fanned out and delivered once."""
    Call(tenant.account_id, call_id, agent_key=f"{tenant.account_id}#{agent}", agent_id=agent,
         to_number="+15550100001", status="completed").save()
    event = {**sample_call_completed(tenant.account_id, agent), "call_id": call_id}
    event.pop("test")
    assert fanout.fan_out({"detail-type": "call.completed", "detail": event}) == 1
    _deliver_queued(settings)


def _deliver_queued(settings: DeliverySettings = LOCAL) -> None:
    import boto3

    from chalicelib import queues

    sqs = boto3.client("sqs")
    url = queues.queue_url(queues.queue_name(queues.DELIVERIES))
    rt = runtime(settings)
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            assert sender.deliver(json.loads(message["Body"]), rt).done
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_a_test_event_is_delivered_signed_and_its_answer_returned(tenant: Tenant, receiver: Receiver) -> None:
    agent, action = _webhook(tenant, receiver.url)
    answer = tenant.post(f"agents/{agent}/post-call-actions/{action['id']}/test")
    assert answer.status_code == 200
    body = answer.json()
    assert body["ok"] is True and body["status_code"] == 200 and body["webhook_id"].startswith("msg_test_")
    [request] = receiver.received
    Webhook(action["signing_secret"]).verify(request.body, request.headers)
    assert request.json["call_id"] == 0 and request.headers["x-parley-test"] == "true"
    assert body["event"]["test"] is True


def test_a_test_event_to_a_private_address_is_refused_and_says_why(tenant: Tenant) -> None:
    agent, action = _webhook(tenant, "http://169.254.169.254/latest/meta-data/")
    body = tenant.post(f"agents/{agent}/post-call-actions/{action['id']}/test").json()
    assert body["ok"] is False and body["refused"] is True and body["status_code"] is None
    assert "169.254.169.254" in body["error"] and "link-local" in body["error"]


def test_a_rotated_secret_signs_next_to_the_old_one_for_a_grace_period(tenant: Tenant, receiver: Receiver) -> None:
    agent, action = _webhook(tenant, receiver.url)
    rotated = tenant.post(f"agents/{agent}/post-call-actions/{action['id']}/secret/rotate")
    assert rotated.status_code == 200
    new = rotated.json()["signing_secret"]
    assert new.startswith("whsec_") and new != action["signing_secret"]
    assert tenant.get(f"agents/{agent}/post-call-actions/{action['id']}/secret").json()["signing_secret"] == new
    tenant.post(f"agents/{agent}/post-call-actions/{action['id']}/test")
    [request] = receiver.received
    assert len(request.headers["webhook-signature"].split()) == 2
    for secret in (new, action["signing_secret"]):  # receivers on either secret accept it
        Webhook(secret).verify(request.body, request.headers)


def test_a_calls_deliveries_list_their_attempts_and_can_be_replayed(tenant: Tenant, receiver: Receiver) -> None:
    agent, action = _webhook(tenant, receiver.url)
    _completed_call(tenant, agent, 9001)
    listed = tenant.get("calls/logs/9001/deliveries")
    assert listed.status_code == 200
    [delivery] = listed.json()["deliveries"]
    assert (delivery["action_id"], delivery["status"], delivery["attempt_count"]) == (action["id"], "succeeded", 1)
    assert delivery["webhook_id"] == records.webhook_id(9001, action["id"])
    [attempt] = delivery["attempts"]
    assert attempt["outcome"] == "succeeded" and attempt["status_code"] == 200 and attempt["latency_ms"] > 0

    replayed = tenant.post(f"calls/logs/9001/deliveries/{action['id']}/replay")
    assert replayed.status_code == 202 and replayed.json()["replayed"] == [action["id"]]
    assert tenant.get("calls/logs/9001/deliveries").json()["deliveries"][0]["status"] == "pending"
    again = tenant.post("calls/logs/9001/deliveries/replay").json()  # already pending: left alone
    assert again["replayed"] == [] and str(action["id"]) in again["skipped"]
    _deliver_queued()
    [delivery] = tenant.get("calls/logs/9001/deliveries").json()["deliveries"]
    assert delivery["status"] == "succeeded" and [a["attempt"] for a in delivery["attempts"]] == [1, 2]
    ids = {r.headers["webhook-id"] for r in receiver.received}
    assert ids == {delivery["webhook_id"]} and len(receiver.received) == 2  # a replay keeps the webhook-id


def test_deliveries_are_tenant_scoped_and_unknown_ones_are_404(tenant: Tenant, other_tenant: Tenant,
                                                                 receiver: Receiver) -> None:
    agent, action = _webhook(tenant, receiver.url)
    _completed_call(tenant, agent, 9002)
    for path in ("calls/logs/9002/deliveries",):
        assert other_tenant.get(path).status_code == 404
    assert other_tenant.post("calls/logs/9002/deliveries/replay").status_code == 404
    assert other_tenant.post(f"agents/{agent}/post-call-actions/{action['id']}/test").status_code == 404
    missing = tenant.post("calls/logs/9002/deliveries/999/replay")
    assert missing.status_code == 404 and missing.json()["error"] and missing.json()["error_description"]
    assert tenant.get("calls/logs/424242/deliveries").status_code == 404
    email = tenant.post(f"agents/{agent}/post-call-actions", json={"type": "email", "recipients": ["a@b.co"]}).json()
    assert tenant.post(f"agents/{agent}/post-call-actions/{email['id']}/secret/rotate").status_code == 404


def test_an_email_action_test_send_goes_through_ses(tenant: Tenant) -> None:
    agent = tenant.post("agents/create", json=AGENT).json()["id"]
    action = tenant.post(f"agents/{agent}/post-call-actions",
                         json={"type": "email", "recipients": ["ops@example.com"]}).json()
    body = tenant.post(f"agents/{agent}/post-call-actions/{action['id']}/test").json()
    assert body["ok"] is True and body["detail"]["message_id"]


def test_recover_sends_again_what_ended_undelivered_since_a_time(tenant: Tenant, other_tenant: Tenant,
                                                                   receiver: Receiver) -> None:
    one_attempt = replace(LOCAL, retry_schedule_s=())
    agent, action = _webhook(tenant, receiver.url)
    recover = f"agents/{agent}/post-call-actions/{action['id']}/recover"
    _completed_call(tenant, agent, 9100)  # delivered: nothing to recover
    since = datetime.now(UTC).isoformat()
    receiver.behaviour = always(503)  # the receiver goes down
    for call_id in (9101, 9102, 9103):
        _completed_call(tenant, agent, call_id, one_attempt)
    statuses = {d.call_id: d.status for d in Delivery.scan()}
    assert statuses == {9100: "succeeded", 9101: "failed", 9102: "failed", 9103: "failed"}

    assert other_tenant.post(recover, json={"since": since}).status_code == 404
    assert tenant.post(f"agents/{agent}/post-call-actions/999/recover", json={"since": since}).status_code == 404
    for bad in ({}, {"since": "2026-12-01T09:00:00"}, {"since": "yesterday"}, {"since": since, "until": since}):
        refused = tenant.post(recover, json=bad)
        assert refused.status_code == 422 and refused.json()["error_description"], bad
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert tenant.post(recover, json={"since": future}).json()["recovered"] == 0

    receiver.behaviour = always(200)  # back up
    recovered = tenant.post(recover, json={"since": since})
    assert recovered.status_code == 202
    assert recovered.json() == {"status": "success", "recovered": 3, "call_ids": [9101, 9102, 9103], "more": False}
    _deliver_queued()
    for call_id in (9101, 9102, 9103):
        [delivery] = tenant.get(f"calls/logs/{call_id}/deliveries").json()["deliveries"]
        assert delivery["status"] == "succeeded"
        assert [a["outcome"] for a in delivery["attempts"]] == ["failed", "succeeded"]
    assert tenant.post(recover, json={"since": since}).json()["recovered"] == 0  # nothing left undelivered
    assert [r.headers["webhook-id"] for r in receiver.received].count(records.webhook_id(9101, action["id"])) == 2


def test_recover_refuses_a_disabled_action(tenant: Tenant, receiver: Receiver) -> None:
    agent, action = _webhook(tenant, receiver.url)
    patched = tenant.patch(f"agents/{agent}/post-call-actions/{action['id']}", json={"enabled": False})
    assert patched.status_code == 200, patched.text
    refused = tenant.post(f"agents/{agent}/post-call-actions/{action['id']}/recover",
                          json={"since": datetime.now(UTC).isoformat()})
    assert refused.status_code == 409 and refused.json()["error"] == "conflict"
