"""The Graph API stand-in alone: authentication, call permissions, connect without permission, messages, and
Graph-shaped errors for bad requests."""
from __future__ import annotations

import time

import requests

from devstack.whatsapp_sim.server import SimServer
from tests.whatsapp_sim.business import PHONE_NUMBER_ID, TOKEN, USER, graph, register

OFFER = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 96\r\n"
         "a=rtpmap:96 opus/48000/2\r\na=fingerprint:sha-256 AB:CD\r\n")
NOWHERE = "http://127.0.0.1:9/hooks"


def test_graph_refuses_a_missing_or_wrong_token_with_oauth_190_and_an_unknown_number_with_100(sim: SimServer) -> None:
    register(sim.url, NOWHERE)
    body = {"messaging_product": "whatsapp", "action": "terminate", "call_id": "wacid.x"}
    for token in (None, "EAAG-wrong"):
        refused = graph(sim.url, "POST", "/calls", token=token, json=body)
        assert refused.status_code == 401
        error = refused.json()["error"]
        assert (error["type"], error["code"]) == ("OAuthException", 190) and error["message"]

    unknown = requests.get(f"{sim.url}/v19.0/999999/call_permissions", params={"user_wa_id": USER},
                           headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == 100


def test_bad_bodies_are_graph_400s(sim: SimServer) -> None:
    register(sim.url, NOWHERE)
    not_json = graph(sim.url, "POST", "/calls", data=b"{nope", headers={"Content-Type": "application/json"})
    wrong_product = graph(sim.url, "POST", "/calls", json={"messaging_product": "sms", "action": "accept"})
    unknown_action = graph(sim.url, "POST", "/calls", json={"messaging_product": "whatsapp", "action": "hold"})
    unknown_call = graph(sim.url, "POST", "/calls", json={"messaging_product": "whatsapp", "action": "accept",
                                                          "call_id": "wacid.nope",
                                                          "session": {"sdp_type": "answer", "sdp": OFFER}})
    for response in (not_json, wrong_product, unknown_action, unknown_call):
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == 100 and error["type"] == "OAuthException" and error["fbtrace_id"]


def test_call_permissions_report_the_status_and_what_the_business_may_do(sim: SimServer) -> None:
    register(sim.url, NOWHERE)

    def permission() -> dict:
        response = graph(sim.url, "GET", "/call_permissions", params={"user_wa_id": USER})
        assert response.status_code == 200, response.text
        return response.json()

    def actions(answer: dict) -> dict[str, bool]:
        return {a["action_name"]: a["can_perform_action"] for a in answer["actions"]}

    answer = permission()
    assert answer["messaging_product"] == "whatsapp" and answer["permission"] == {"status": "no_permission"}
    assert actions(answer) == {"send_call_permission_request": True, "start_call": False}

    def grant(body: dict) -> None:
        response = requests.put(f"{sim.url}/sim/whatsapp/permissions/{PHONE_NUMBER_ID}/{USER}", json=body, timeout=5)
        assert response.status_code == 200, response.text

    grant({"status": "granted"})
    assert permission()["permission"] == {"status": "granted"}
    assert actions(permission()) == {"send_call_permission_request": False, "start_call": True}

    expires = int(time.time()) + 3600
    grant({"status": "temporary", "expiration_time": expires})
    assert permission()["permission"] == {"status": "temporary", "expiration_time": expires}
    assert actions(permission())["start_call"] is True

    grant({"status": "temporary", "expiration_time": int(time.time()) - 1})
    assert permission()["permission"] == {"status": "no_permission"}

    grant({"status": "granted", "can_start_call": False})  # granted, but over the call limit
    assert actions(permission())["start_call"] is False

    missing_user = graph(sim.url, "GET", "/call_permissions")
    assert missing_user.status_code == 400 and missing_user.json()["error"]["code"] == 100


def test_connect_to_a_user_without_permission_is_refused_and_places_no_call(sim: SimServer) -> None:
    register(sim.url, NOWHERE)
    body = {"messaging_product": "whatsapp", "to": USER, "action": "connect",
            "session": {"sdp_type": "offer", "sdp": OFFER}}
    refused = graph(sim.url, "POST", "/calls", json=body)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == 138006
    assert requests.get(f"{sim.url}/sim/whatsapp/calls", timeout=5).json()["calls"] == []


def test_messages_are_recorded_and_answered_like_the_cloud_api(sim: SimServer) -> None:
    register(sim.url, NOWHERE)
    body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "447700900123", "type": "text",
            "text": {"preview_url": True, "body": "*Call summary*\n\nAll good."}}
    sent = graph(sim.url, "POST", "/messages", json=body)
    assert sent.status_code == 200, sent.text
    answer = sent.json()
    assert answer["messaging_product"] == "whatsapp"
    assert answer["contacts"] == [{"input": "447700900123", "wa_id": "447700900123"}]
    [message_id] = [m["id"] for m in answer["messages"]]
    assert message_id.startswith("wamid.")

    [recorded] = requests.get(f"{sim.url}/sim/whatsapp/messages", timeout=5).json()["messages"]
    assert recorded["id"] == message_id and recorded["body"] == body
    assert recorded["phone_number_id"] == PHONE_NUMBER_ID

    unauthorized = graph(sim.url, "POST", "/messages", token="EAAG-wrong", json=body)
    assert unauthorized.status_code == 401 and unauthorized.json()["error"]["code"] == 190
    no_recipient = graph(sim.url, "POST", "/messages", json={"messaging_product": "whatsapp", "type": "text"})
    assert no_recipient.status_code == 400 and no_recipient.json()["error"]["code"] == 100


def test_the_control_api_refuses_bad_registrations_and_scripts_with_json_errors(sim: SimServer) -> None:
    bad_number = requests.put(f"{sim.url}/sim/whatsapp/numbers/{PHONE_NUMBER_ID}", timeout=5,
                              json={"display_phone_number": "+1415", "access_token": "t", "app_secret": "s",
                                    "webhook_url": "ftp://nope"})
    assert bad_number.status_code == 400 and bad_number.json()["error"] == "bad_request"
    register(sim.url, NOWHERE)
    bad_script = requests.post(f"{sim.url}/sim/whatsapp/calls", timeout=5, json={
        "phone_number_id": PHONE_NUMBER_ID, "from": USER, "script": [{"dtmf": "1"}]})
    assert bad_script.status_code == 400 and "dtmf" in bad_script.json()["error_description"]
    unknown_number = requests.post(f"{sim.url}/sim/whatsapp/calls", timeout=5, json={
        "phone_number_id": "42", "from": USER, "script": []})
    assert unknown_number.status_code == 404
