"""The ``calls`` webhooks: the Cloud API envelope, signed with the app secret, retried while the receiver
answers 500, every attempt recorded on the call."""
from __future__ import annotations

import json

import requests

from devstack.whatsapp_sim.server import SimServer
from tests.post_call.receivers import Received, Receiver, serve
from tests.whatsapp_sim.business import PHONE_NUMBER_ID, USER, register, signed_correctly, wait_for


def fails_twice(receiver: Receiver, request: Received) -> tuple[int, float]:
    return (500 if len(receiver.received) <= 2 else 200), 0.0


def test_a_webhook_is_the_signed_cloud_api_envelope_and_is_retried_on_500(sim: SimServer) -> None:
    with serve(Receiver(behaviour=fails_twice)) as receiver:
        register(sim.url, receiver.url)
        placed = requests.post(f"{sim.url}/sim/whatsapp/calls", timeout=10, json={
            "phone_number_id": PHONE_NUMBER_ID, "from": f"+{USER}", "name": "Ada", "script": [{"hang_up": True}]})
        assert placed.status_code == 201, placed.text
        call_id = placed.json()["call_id"]
        assert call_id.startswith("wacid.")
        wait_for(lambda: len(receiver.received) >= 3, 10)
        attempts = list(receiver.received[:3])

    assert all(signed_correctly(request) for request in attempts)
    assert len({request.body for request in attempts}) == 1  # a retry is the same delivery
    body = json.loads(attempts[0].body)
    assert body["object"] == "whatsapp_business_account"
    [entry] = body["entry"]
    assert entry["id"] == "102290129340398"
    [change] = entry["changes"]
    assert change["field"] == "calls"
    value = change["value"]
    assert value["messaging_product"] == "whatsapp"
    assert value["metadata"] == {"display_phone_number": "14155550100", "phone_number_id": PHONE_NUMBER_ID}
    assert value["contacts"] == [{"wa_id": USER, "profile": {"name": "Ada"}}]
    [connect] = value["calls"]
    assert {k: connect[k] for k in ("id", "from", "to", "event", "direction")} == {
        "id": call_id, "from": USER, "to": "14155550100", "event": "connect", "direction": "USER_INITIATED"}
    assert connect["timestamp"].isdigit() and connect["session"]["sdp_type"] == "offer"

    call = requests.get(f"{sim.url}/sim/whatsapp/calls/{call_id}", timeout=5).json()
    sent = [(e["event"], e["attempt"], e["status_code"]) for e in call["events"] if e["kind"] == "webhook"]
    assert sent[:3] == [("connect", 1, 500), ("connect", 2, 500), ("connect", 3, 200)]


def test_a_connect_webhook_never_accepted_fails_the_call_with_terminate_failed(sim: SimServer) -> None:
    with serve(Receiver(behaviour=lambda receiver, request: (503, 0.0))) as receiver:
        register(sim.url, receiver.url)
        call_id = requests.post(f"{sim.url}/sim/whatsapp/calls", timeout=10, json={
            "phone_number_id": PHONE_NUMBER_ID, "from": USER, "script": []}).json()["call_id"]
        call = wait_for(lambda: (c := requests.get(f"{sim.url}/sim/whatsapp/calls/{call_id}", timeout=5).json())
                        ["status"] == "failed" and c, 10)
        wait_for(lambda: len(receiver.received) >= 6, 10)  # 3 connect attempts, then 3 terminate attempts
        terminate = json.loads(receiver.received[3].body)["entry"][0]["changes"][0]["value"]["calls"][0]
    assert call["ended_by"] == "sim" and "connect webhook" in call["error"]
    assert (terminate["event"], terminate["status"]) == ("terminate", "FAILED")
