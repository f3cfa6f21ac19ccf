"""The business calls a user on WhatsApp: dispatch from a WhatsApp number goes through the WhatsApp adapter
(permission, the streaming service's offer, Graph connect), then the webhook's statuses and the user's answer
move the call; the expiry ends it when nobody answers; ``hang_up.terminate`` asks Graph to end it."""
from __future__ import annotations

import time
from typing import Any

import pytest

from chalicelib.db.models import Call, UniqueClaim
from chalicelib.domain import whatsapp_outbound
from chalicelib.domain.call_end import end_call
from chalicelib.telephony import stream_tokens
from chalicelib.whatsapp import hang_up
from tests.campaign_ops import run_campaign_ops
from tests.conftest import AGENT, Tenant
from tests.whatsapp.conftest import (
    ACCESS_TOKEN,
    SECRET,
    USER,
    WhatsApp,
    calls_change,
    held_by,
    import_number,
    post_webhook,
    task_link,
    terminate,
    webhook_url,
)
from tests.whatsapp.fakes import graph_error

WACID = "wacid.BUSINESS1"
TO = f"+{USER}"


def _dispatch(tenant: Tenant) -> tuple[str, dict[str, Any]]:
    agent_id = tenant.post("agents/create", json=AGENT).json()["id"]
    number = import_number(tenant)
    placed = tenant.post("calls/dispatch", json={"agent_id": agent_id, "to_number": TO,
                                                 "from_number_id": number["id"]})
    assert placed.status_code == 201, placed.text
    call = tenant.get(f"calls/logs/{placed.json()['call_id']}").json()
    return webhook_url(tenant.base, tenant.account_id, number["id"]), call


def _status(status: str) -> dict[str, Any]:
    return calls_change(statuses=[{"id": WACID, "type": "call", "status": status, "recipient_id": USER,
                                   "timestamp": "1733220005"}])


def _answer() -> dict[str, Any]:
    return calls_change(calls=[{"id": WACID, "to": USER, "from": "14155550100", "event": "connect",
                                "direction": "BUSINESS_INITIATED",
                                "session": {"sdp_type": "answer", "sdp": "v=0\r\no=user answer\r\n"}}])


def _log(tenant: Tenant, call_id: int) -> dict[str, Any]:
    return tenant.get(f"calls/logs/{call_id}").json()


def test_a_user_who_has_not_granted_permission_is_not_called(tenant: Tenant, wa: WhatsApp) -> None:
    wa.graph.rules.permission = "no_permission"
    _, call = _dispatch(tenant)
    assert call["call_status"] == "failed" and call["channel"] == "whatsapp"
    assert "has not granted call permission" in call["details"]["reason"]
    [asked] = wa.graph.requests
    assert asked.path.endswith("/106540352242922/call_permissions") and asked.query == {"user_wa_id": USER}
    assert asked.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert wa.media.requests == []


def test_a_granted_call_is_offered_connected_and_claimed(tenant: Tenant, wa: WhatsApp) -> None:
    _, call = _dispatch(tenant)
    assert (call["call_status"], call["channel"], call["call_type"]) == ("queued", "whatsapp", "Outgoing")
    assert call["details"]["whatsapp"] == {"wacid": WACID, "direction": "BUSINESS_INITIATED"}
    assert Call.get(tenant.account_id, call["id"]).carrier_sid == WACID
    assert UniqueClaim.get(f"whatsapp-call#{WACID}").owner == f"{tenant.account_id}#{call['id']}"
    [offer] = wa.media.requests
    assert offer.path == "/whatsapp/offer" and offer.body["call_id"] == call["id"]
    # The task admits the call with this token when the user answers: it outlives the 60 s ring.
    assert stream_tokens.verify(SECRET, offer.body["token"], call["id"], now=time.time() + 85) is not None
    assert wa.graph.actions() == ["call_permissions", "connect"]
    connect = wa.graph.requests[1].body
    assert connect == {"messaging_product": "whatsapp", "to": USER, "action": "connect",
                       "session": {"sdp_type": "offer", "sdp": f"v=0\r\no=offer {call['id']}\r\n"},
                       "biz_opaque_callback_data": str(call["id"])}


def test_a_graph_refusal_to_connect_fails_the_call_with_the_reason(tenant: Tenant, wa: WhatsApp) -> None:
    wa.graph.rules.refuse["connect"] = graph_error("Recipient phone number not on WhatsApp", code=131026)
    _, call = _dispatch(tenant)
    assert call["call_status"] == "failed" and "131026" in call["details"]["reason"]


def test_ringing_then_the_users_answer_goes_to_the_task_holding_the_offer(tenant: Tenant, wa: WhatsApp,
                                                                           gateway: Any) -> None:
    url, call = _dispatch(tenant)
    assert post_webhook(url, _status("RINGING")).status_code == 200
    assert _log(tenant, call["id"])["call_status"] == "ringing"
    with task_link(gateway.url, "task-9") as task:
        held_by(tenant.account_id, call["id"], "task-9")
        assert post_webhook(url, _answer()).status_code == 200
        note = task.wait_for(lambda e: e.get("type") == "control", timeout=10)
    assert note["control"] == {"type": "whatsapp_answer", "sdp": "v=0\r\no=user answer\r\n"}
    assert wa.graph.actions() == ["call_permissions", "connect"]  # no Graph call follows the user's answer


def test_an_answer_no_task_holds_fails_the_call_and_hangs_up(tenant: Tenant, wa: WhatsApp) -> None:
    url, call = _dispatch(tenant)
    assert post_webhook(url, _answer()).status_code == 200
    assert _log(tenant, call["id"])["call_status"] == "failed"
    assert wa.graph.actions()[-1] == "terminate"


def test_a_rejected_call_ends_busy_and_a_hang_up_before_the_answer_ends_no_answer(tenant: Tenant,
                                                                                  wa: WhatsApp) -> None:
    url, rejected = _dispatch(tenant)
    assert post_webhook(url, _status("REJECTED")).status_code == 200
    ended = _log(tenant, rejected["id"])
    assert ended["call_status"] == "busy" and ended["details"]["whatsapp"]["status"] == "REJECTED"

    wa.graph.rules.wacid = "wacid.BUSINESS2"
    agent_id = tenant.post("agents/create", json=AGENT).json()["id"]
    placed = tenant.post("calls/dispatch", json={"agent_id": agent_id, "to_number": TO,
                                                 "from_number_id": rejected["from_number_id"]}).json()
    gone = terminate("wacid.BUSINESS2", status="FAILED")
    gone["entry"][0]["changes"][0]["value"]["calls"][0]["to"] = USER
    assert post_webhook(url, gone).status_code == 200
    assert _log(tenant, placed["call_id"])["call_status"] == "no_answer"


def test_a_call_nobody_answers_ends_no_answer_when_its_expiry_comes(tenant: Tenant, wa: WhatsApp,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_WHATSAPP_RING_TIMEOUT_S", "1")
    monkeypatch.setattr(whatsapp_outbound, "EXPIRY_MARGIN_S", 0)  # the test's 75 s: 1 s
    _, call = _dispatch(tenant)
    [message] = run_campaign_ops(1)
    assert message == {"op": "expire_whatsapp_call", "account_id": tenant.account_id, "call_id": call["id"]}
    ended = _log(tenant, call["id"])
    assert ended["call_status"] == "no_answer" and ended["details"]["reason"] == "not answered"
    assert wa.graph.actions()[-1] == "terminate"
    assert whatsapp_outbound.expire_unanswered(message) is False  # a redelivered message changes nothing


def test_an_expiry_leaves_a_call_whose_media_was_admitted(tenant: Tenant, wa: WhatsApp) -> None:
    _, call = _dispatch(tenant)
    Call(tenant.account_id, call["id"]).update(actions=[Call.media_stream_sid.set("whatsapp-abc")])
    assert whatsapp_outbound.expire_unanswered({"account_id": tenant.account_id, "call_id": call["id"]}) is False
    assert _log(tenant, call["id"])["call_status"] == "queued"


def test_hang_up_terminate_posts_graph_terminate_and_says_no_on_any_failure(tenant: Tenant, wa: WhatsApp) -> None:
    _, call = _dispatch(tenant)
    assert hang_up.terminate(tenant.account_id, call["id"]) is True
    ended = wa.graph.requests[-1]
    assert ended.body == {"messaging_product": "whatsapp", "call_id": WACID, "action": "terminate"}
    assert ended.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert hang_up.terminate(tenant.account_id, call["id"] + 1000) is False  # no such call
    wa.graph.rules.refuse["terminate"] = graph_error("Call not found", code=138006, status=404)
    assert hang_up.terminate(tenant.account_id, call["id"]) is False


def test_a_hang_up_the_streaming_service_requests_is_posted_by_the_campaign_ops_worker(
        tenant: Tenant, wa: WhatsApp) -> None:
    _, call = _dispatch(tenant)
    hang_up.request(tenant.account_id, call["id"])
    [message] = run_campaign_ops(1)
    assert message == {"op": hang_up.HANG_UP_OP, "account_id": tenant.account_id, "call_id": call["id"]}
    ended = wa.graph.requests[-1]
    assert ended.body == {"messaging_product": "whatsapp", "call_id": WACID, "action": "terminate"}


def test_a_call_whatsapp_already_ended_is_not_terminated_again_and_keeps_its_end(tenant: Tenant,
                                                                                 wa: WhatsApp) -> None:
    url, call = _dispatch(tenant)
    Call(tenant.account_id, call["id"]).update(actions=[Call.media_stream_sid.set("whatsapp-abc")])
    call_record = Call.get(tenant.account_id, call["id"])
    end_call(call_record, "completed", {"ended_by": "stream_dropped"})  # the media closed first, here
    assert post_webhook(url, terminate(WACID)).status_code == 200  # then WhatsApp's own end arrives
    ended = _log(tenant, call["id"])
    assert ended["call_status"] == "completed"
    assert (ended["details"]["whatsapp"]["status"], ended["details"]["whatsapp"]["duration"]) == ("COMPLETED", 42)
    before = len(wa.graph.requests)
    assert hang_up.terminate(tenant.account_id, call["id"]) is True
    assert len(wa.graph.requests) == before  # nothing posted: WhatsApp already ended it


def test_a_fresh_status_for_a_call_not_known_yet_is_asked_again_and_an_old_one_is_skipped(tenant: Tenant,
                                                                                          wa: WhatsApp) -> None:
    url, call = _dispatch(tenant)
    early = calls_change(statuses=[{"id": "wacid.NOT_STORED_YET", "type": "call", "status": "RINGING",
                                    "recipient_id": USER, "timestamp": str(int(time.time()))}])
    answer = post_webhook(url, early)
    assert answer.status_code == 503, answer.text  # WhatsApp delivers it again, once the claim is written
    assert answer.json()["error"] == "unavailable"
    stale = calls_change(statuses=[{"id": "wacid.NOT_OURS", "type": "call", "status": "RINGING",
                                    "recipient_id": USER, "timestamp": str(int(time.time()) - 3600)}])
    assert post_webhook(url, stale).status_code == 200
    assert _log(tenant, call["id"])["call_status"] == "queued"  # neither touched the call placed
