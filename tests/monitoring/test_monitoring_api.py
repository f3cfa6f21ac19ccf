"""The monitoring API's authentication, subscriptions and what the API publishes itself (queued, campaign
progress, calls that end without a conversation), through real WebSockets: the app's own handlers behind
the API Gateway stand-in, on the embedded AWS."""
from __future__ import annotations

import time

import pytest

from chalicelib.monitoring import tokens
from devstack.monitor_client import MonitorClient, Refused
from devstack.websocket_gateway import WebSocketGateway
from tests.conftest import AGENT, Tenant
from tests.monitoring.event_schemas import check

SECRET = "test-stream-secret"  # tests/conftest.py's PARLEY_STREAM_TOKEN_SECRET


def token_of(tenant: Tenant) -> str:
    response = tenant.post("monitor/tokens")
    assert response.status_code == 201, response.text
    return response.json()["token"]


def subscribed(gateway: WebSocketGateway, tenant: Tenant, **target: int) -> MonitorClient:
    client = MonitorClient(gateway.url, api_key=tenant.api_key)
    client.send({"action": "subscribe", **target})
    client.wait_for(lambda e: e["type"] == "snapshot", timeout=10)
    return client


def test_expired_tokens_tokens_of_disabled_keys_and_unknown_keys_are_refused(gateway: WebSocketGateway,
                                                                              tenant: Tenant) -> None:
    from chalicelib.domain.accounts import disable_key, hash_key

    expired = tokens.issue_monitor_token(SECRET, tenant.account_id, hash_key(tenant.api_key), now=time.time() - 301)
    stream_token = tokens.issue_task_token(SECRET, "task-x").replace("tsk_", "mon_")  # another purpose's token
    for credentials in ({"token": expired}, {"token": stream_token}, {"api_key": "sk_unknown"}, {}):
        with pytest.raises(Refused) as refused:
            MonitorClient(gateway.url, **credentials)
        assert refused.value.status == 401
    valid = token_of(tenant)
    MonitorClient(gateway.url, token=valid).close()
    disable_key(tenant.api_key)
    for credentials in ({"token": valid}, {"api_key": tenant.api_key}):
        with pytest.raises(Refused):
            MonitorClient(gateway.url, **credentials)
    assert tenant.post("monitor/tokens").status_code == 401  # and REST refuses the key too


def test_dispatch_publishes_queued_to_the_accounts_watchers_only(gateway: WebSocketGateway, tenant: Tenant,
                                                                 other_tenant: Tenant) -> None:
    agent = tenant.post("agents/create", json=AGENT).json()["id"]
    from tests.conftest import TWILIO_SID

    number = tenant.post("phone_number/import/twilio", json={
        "phone_number": "+15005550006", "account_sid": TWILIO_SID, "account_token": "t" * 32}).json()
    number_id = number["phone_number"]["id"]
    with subscribed(gateway, tenant) as mine, subscribed(gateway, other_tenant) as theirs:
        call = tenant.post("calls/dispatch", json={"agent_id": agent, "to_number": "+15551230000",
                                                   "from_number_id": number_id}).json()
        queued = mine.wait_for(lambda e: e["type"] == "call.status" and e["status"] == "queued", timeout=10)
        assert (queued["call_id"], queued["seq"]) == (call["call_id"], 1)
        check(queued)
        # The carrier simulator answers and hangs up at once: ringing, then (no media stream) the end.
        ended = mine.wait_for(lambda e: e["type"] == "call.ended" and e["call_id"] == call["call_id"], timeout=20)
        check(ended)
        seqs = [e["seq"] for e in mine.of_call(call["call_id"])]
        assert seqs == sorted(set(seqs)) and seqs[-2:] == [4, 5]
        time.sleep(0.2)  # a stray event would have arrived by now
        assert not theirs.of_call(call["call_id"])


def test_subscribing_to_another_accounts_call_is_not_found_and_bad_messages_keep_the_socket(
        gateway: WebSocketGateway, tenant: Tenant, other_tenant: Tenant) -> None:
    agent = tenant.post("agents/create", json=AGENT).json()["id"]
    web_call = tenant.post("web-calls", json={"agent_id": agent})
    with subscribed(gateway, other_tenant) as theirs:
        target = web_call.json()["call_id"] if web_call.status_code == 201 else 1
        theirs.send({"action": "subscribe", "call_id": target})
        assert theirs.wait_for(lambda e: e["type"] == "error", timeout=10)["error"] == "not_found"
        for bad in ("not json", '{"action": "subscribe", "call_id": -3}', '{"action": "subscribe", "x": 1}',
                    '{"action": "subscribe", "call_id": 1, "bulk_call_id": 2}', "[]", "x" * 5000):
            seen = len(theirs.events)
            theirs.send_text(bad)
            error = theirs.wait_for(lambda e: e["type"] == "error", timeout=10, after=seen)
            assert error["error"] == "invalid_message" and error["error_description"]
            check(error)
        theirs.send({"action": "ping"})
        theirs.wait_for(lambda e: e["type"] == "pong", timeout=10)


def test_snapshot_lists_the_active_calls_the_subscription_covers(gateway: WebSocketGateway, tenant: Tenant,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_WEB_OFFER_URL", "http://127.0.0.1:9/web/offer")  # a call that stays queued
    monkeypatch.setenv("PARLEY_ICE_SERVERS", "[]")
    agent = tenant.post("agents/create", json=AGENT).json()["id"]
    created = tenant.post("web-calls", json={"agent_id": agent})
    assert created.status_code == 201, created.text
    call_id = created.json()["call_id"]
    with MonitorClient(gateway.url, token=token_of(tenant)) as watcher:
        watcher.send({"action": "subscribe", "call_id": call_id})
        snapshot = watcher.wait_for(lambda e: e["type"] == "snapshot", timeout=10)
        check(snapshot)
        [entry] = snapshot["calls"]
        assert (entry["call_id"], entry["status"], entry["channel"], entry["seq"]) == (call_id, "queued", "web", 1)
        watcher.send({"action": "unsubscribe"})
        watcher.send({"action": "subscribe", "bulk_call_id": 424242})
        assert watcher.wait_for(lambda e: e["type"] == "error", timeout=10)["error"] == "not_found"
