"""A user calls a business number on WhatsApp, through the signed webhook over HTTP, with the Graph API and the
streaming service standing in on 127.0.0.1: the call is recorded once, answered by the streaming service, then
pre-accepted and accepted on Graph; refusals and failures reject it; the user's hang-up reaches the task."""
from __future__ import annotations

from typing import Any

import pytest

from chalicelib.db.models import Call, UniqueClaim
from chalicelib.telephony import stream_tokens
from tests.conftest import Tenant
from tests.whatsapp.conftest import (
    ACCESS_TOKEN,
    NUMBER,
    SECRET,
    USER,
    WhatsApp,
    attached_number,
    calls_of,
    held_by,
    import_number,
    post_webhook,
    task_link,
    terminate,
    user_connect,
    webhook_url,
)
from tests.whatsapp.fakes import graph_error

WACID = "wacid.USER1"
OFFER = "v=0\r\no=whatsapp offer\r\n"


def _connected(tenant: Tenant, wa: WhatsApp) -> tuple[str, dict[str, Any]]:
    agent_id, number = attached_number(tenant)
    url = webhook_url(wa.api, tenant.account_id, number["id"])
    answer = post_webhook(url, user_connect(WACID))
    assert (answer.status_code, answer.json()) == (200, {"received": True})
    [call] = calls_of(tenant)
    return url, call


def test_a_users_call_is_recorded_once_answered_by_the_streaming_service_then_accepted_on_graph(
        tenant: Tenant, wa: WhatsApp) -> None:
    url, call = _connected(tenant, wa)
    retried = post_webhook(url, user_connect(WACID))  # Meta delivers the same webhook again
    assert retried.status_code == 200
    [same] = calls_of(tenant)
    assert same["id"] == call["id"]
    assert (call["channel"], call["call_type"], call["call_status"]) == ("whatsapp", "Incoming", "in_progress")
    assert call["to_number"] == NUMBER and call["call_context"] == {"caller_number": f"+{USER}"}
    assert call["details"]["caller_name"] == "Ada" and call["details"]["direction"] == "inbound"
    assert call["details"]["whatsapp"] == {"wacid": WACID, "direction": "USER_INITIATED"}
    assert Call.get(tenant.account_id, call["id"]).carrier_sid == WACID
    assert UniqueClaim.get(f"whatsapp-call#{WACID}").owner == f"{tenant.account_id}#{call['id']}"

    [asked] = wa.media.requests  # once: the retry did nothing more
    assert asked.path == "/whatsapp/answer" and asked.body["sdp"] == OFFER and asked.body["call_id"] == call["id"]
    assert stream_tokens.verify(SECRET, asked.body["token"], call["id"])["a"] == tenant.account_id
    answer_sdp = f"v=0\r\no=answer {call['id']}\r\n"
    assert wa.graph.actions() == ["pre_accept", "accept"]
    for seen in wa.graph.requests:
        assert seen.path == "/v21.0/106540352242922/calls"
        assert seen.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
        assert seen.body["call_id"] == WACID and seen.body["messaging_product"] == "whatsapp"
        assert seen.body["session"] == {"sdp_type": "answer", "sdp": answer_sdp}
    whatsapp_calls = tenant.get("calls/logs", params={"channel": "whatsapp"}).json()["call_log_data"]
    assert [c["id"] for c in whatsapp_calls] == [call["id"]]
    assert tenant.get("calls/logs", params={"channel": "phone"}).json()["call_log_data"] == []


def test_a_number_with_no_agent_rejects_the_call_and_records_nothing(tenant: Tenant, wa: WhatsApp) -> None:
    number = import_number(tenant)
    answer = post_webhook(webhook_url(wa.api, tenant.account_id, number["id"]), user_connect(WACID))
    assert answer.status_code == 200
    assert calls_of(tenant) == [] and wa.media.requests == []
    assert wa.graph.actions() == ["reject"] and wa.graph.requests[0].body["call_id"] == WACID


def test_an_agent_that_only_places_calls_rejects_and_the_cap_rejects(
        tenant: Tenant, wa: WhatsApp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_INBOUND_MAX_CONCURRENT", "1")
    url, first = _connected(tenant, wa)
    post_webhook(url, user_connect("wacid.USER2"))
    assert [c["id"] for c in calls_of(tenant)] == [first["id"]]
    assert wa.graph.actions() == ["pre_accept", "accept", "reject"]
    assert wa.graph.requests[-1].body["call_id"] == "wacid.USER2"


def test_a_media_failure_rejects_the_call_and_ends_it_failed_with_the_reason(tenant: Tenant, wa: WhatsApp) -> None:
    wa.media.refuse = (503, {"error": "busy", "error_description": "at capacity"})
    _, call = _connected(tenant, wa)
    assert call["call_status"] == "failed" and "503" in call["details"]["reason"]
    assert "busy" in call["details"]["reason"]
    assert wa.graph.actions() == ["reject"]


def test_a_graph_refusal_to_accept_rejects_and_fails_the_call_without_leaking_the_token(
        tenant: Tenant, wa: WhatsApp) -> None:
    wa.graph.rules.refuse["accept"] = graph_error(f"Invalid OAuth access token {ACCESS_TOKEN}", code=190)
    _, call = _connected(tenant, wa)
    assert call["call_status"] == "failed"
    reason = call["details"]["reason"]
    assert "190" in reason and "Invalid OAuth access token" in reason and ACCESS_TOKEN not in reason
    assert wa.graph.actions() == ["pre_accept", "accept", "reject"]


def test_a_terminate_for_an_unknown_call_answers_200_and_writes_nothing(tenant: Tenant, wa: WhatsApp) -> None:
    _, number = attached_number(tenant)
    answer = post_webhook(webhook_url(wa.api, tenant.account_id, number["id"]), terminate("wacid.NOBODY"))
    assert (answer.status_code, answer.json()) == (200, {"received": True})
    assert calls_of(tenant) == [] and wa.graph.requests == []


def test_the_users_hang_up_ends_a_call_no_task_holds(tenant: Tenant, wa: WhatsApp) -> None:
    url, call = _connected(tenant, wa)
    assert post_webhook(url, terminate(WACID)).status_code == 200
    ended = tenant.get(f"calls/logs/{call['id']}").json()
    assert ended["call_status"] == "completed" and ended["details"]["ended_by"] == "caller"
    assert ended["details"]["whatsapp"] == {"wacid": WACID, "direction": "USER_INITIATED", "status": "COMPLETED",
                                            "duration": 42}
    assert post_webhook(url, terminate(WACID)).status_code == 200  # again: nothing changes
    assert tenant.get(f"calls/logs/{call['id']}").json()["updated_at"] == ended["updated_at"]


def test_the_users_hang_up_is_sent_to_the_task_holding_the_call(tenant: Tenant, wa: WhatsApp,
                                                                gateway: Any) -> None:
    url, call = _connected(tenant, wa)
    with task_link(gateway.url, "task-7") as task:
        held_by(tenant.account_id, call["id"], "task-7")
        assert post_webhook(url, terminate(WACID)).status_code == 200
        note = task.wait_for(lambda e: e.get("type") == "control", timeout=10)
    assert (note["call_id"], note["control"]) == (call["id"], {"type": "caller_hung_up"})
    # The task ends the call (ended_by caller) when it finalizes: the webhook left it to the task.
    assert tenant.get(f"calls/logs/{call['id']}").json()["call_status"] == "in_progress"


def test_a_change_for_a_sibling_number_is_applied_only_when_its_own_secret_signs_it(
        tenant: Tenant, other_tenant: Tenant, wa: WhatsApp) -> None:
    from tests.conftest import AGENT
    from tests.whatsapp.conftest import calls_change

    _, first = attached_number(tenant)
    agent_id = tenant.post("agents/create", json=AGENT).json()["id"]
    sibling = import_number(tenant, number="+14155550101", meta_id="2000")
    tenant.post("phone_number/attach", json={"phone_number_id": sibling["id"], "agent_id": agent_id})
    import_number(other_tenant, number="+14155550102", meta_id="3000")
    url = webhook_url(wa.api, tenant.account_id, first["id"])
    offer = user_connect("wacid.SIB")["entry"][0]["changes"][0]["value"]["calls"]
    assert post_webhook(url, calls_change(calls=offer, meta_id="3000")).status_code == 200  # another account's
    assert calls_of(tenant) == []
    assert post_webhook(url, calls_change(calls=offer, meta_id="2000")).status_code == 200  # one Meta app
    [call] = calls_of(tenant)
    assert (call["from_number_id"], call["to_number"]) == (sibling["id"], "+14155550101")
