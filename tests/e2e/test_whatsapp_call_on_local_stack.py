"""WhatsApp voice calls on the local stack, exactly as ``make dev`` runs them (docs/whatsapp-calls.md): a WhatsApp
number imported through the API and registered in the WhatsApp Cloud API simulator with the webhook URL Parley
returned; the simulator's WhatsApp user (an aiortc peer speaking Piper audio) rings the business, or the business
dispatches a call to the user; either way the agent greets, hears the question and answers in speech over
WebRTC, and the call log holds the conversation with ``channel: "whatsapp"``."""
from __future__ import annotations

from typing import Any

import pytest
import requests
from omnidimension import Client

from devstack.monitor_client import MonitorClient
from tests.e2e.test_voice_call_on_local_stack import assert_spoken_conversation, bakery_agent, finished_log
from tests.monitoring.event_schemas import check
from tests.post_call.pipeline import wait_until
from tests.post_call.receivers import Receiver, serve

pytestmark = pytest.mark.slow

QUESTION = "What time do you open tomorrow morning?"
USER = "447700900123"
SCRIPT = [{"wait_agent": {"silence": 1.0, "timeout": 60}}, {"say": QUESTION},
          {"wait_agent": {"silence": 1.5, "timeout": 90}}, {"hang_up": True}]


def import_whatsapp_number(stack: dict, phone_number: str, meta_id: str) -> dict[str, Any]:
    """Import the number in Parley, then register it in the simulator (what the Meta app's settings hold)."""
    headers = {"Authorization": f"Bearer {stack['api_key']}"}
    token, secret = f"EAAG-local-{meta_id}", f"app-secret-{meta_id}"
    imported = requests.post(f"{stack['api_url']}/phone_number/import/whatsapp", headers=headers, timeout=30, json={
        "phone_number": phone_number, "whatsapp_phone_number_id": meta_id, "access_token": token,
        "app_secret": secret})
    assert imported.status_code == 201, imported.text
    number = imported.json()["phone_number"]
    assert number["provider"] == "whatsapp" and number["dialable"] is True
    settings = number["settings"]
    verified = requests.get(settings["webhook_url"], timeout=10, params={
        "hub.mode": "subscribe", "hub.verify_token": settings["verify_token"], "hub.challenge": "1158201444"})
    assert (verified.status_code, verified.text) == (200, "1158201444")
    registered = requests.put(f"{stack['whatsapp_sim_url']}/sim/whatsapp/numbers/{meta_id}", timeout=10, json={
        "display_phone_number": phone_number, "access_token": token, "app_secret": secret,
        "webhook_url": settings["webhook_url"]})
    assert registered.status_code == 200, registered.text
    return dict(number)


def sim_call(stack: dict, call_id: str) -> dict[str, Any]:
    return dict(requests.get(f"{stack['whatsapp_sim_url']}/sim/whatsapp/calls/{call_id}", timeout=10).json())


def webhooks_delivered(call: dict[str, Any]) -> list[tuple[str, int | None]]:
    """The call's webhooks as finally answered (a call's deliveries are in order: a retry follows its attempt)."""
    delivered: list[tuple[str, int | None]] = []
    for event in (e for e in call["events"] if e["kind"] == "webhook"):
        if event["attempt"] > 1:
            delivered.pop()
        delivered.append((event["event"], event["status_code"]))
    return delivered


def test_a_whatsapp_user_calling_the_business_talks_to_the_attached_agent(local_stack: dict) -> None:
    api, sim = local_stack["api_url"], local_stack["whatsapp_sim_url"]
    headers = {"Authorization": f"Bearer {local_stack['api_key']}"}
    client = Client(local_stack["api_key"], base_url=api)
    agent = bakery_agent(client)
    number = import_whatsapp_number(local_stack, "+14155550100", "106540352242922")
    attached = requests.post(f"{api}/phone_number/attach", headers=headers, timeout=30,
                             json={"phone_number_id": number["id"], "agent_id": agent["id"]})
    assert attached.status_code == 200, attached.text

    with serve(Receiver()) as receiver:
        action = client.agent.add_post_call_action(
            agent["id"], "webhook", url=receiver.url, trigger_call_statuses=["completed"],
            payload_template={"call": "{{call_id}}", "caller": "{{call_context.caller_number}}"})["json"]
        placed = requests.post(f"{sim}/sim/whatsapp/calls", timeout=30, json={
            "phone_number_id": "106540352242922", "from": USER, "name": "Ada", "script": SCRIPT})
        assert placed.status_code == 201, placed.text
        wacid = placed.json()["call_id"]

        def logs() -> list[dict]:
            return requests.get(f"{api}/calls/logs", headers=headers, timeout=10).json()["call_log_data"]

        assert wait_until(lambda: bool(logs()), 60)
        [call] = logs()
        log = finished_log(client, call["id"], timeout=240)
        assert wait_until(lambda: bool(receiver.received), 60)

    [request] = receiver.received  # the post-call delivery, as for any call
    assert request.json == {"call": call["id"], "caller": log["call_context"]["caller_number"]}
    deliveries = requests.get(f"{api}/calls/logs/{call['id']}/deliveries", headers=headers, timeout=10).json()
    assert [(d["action_id"], d["status"]) for d in deliveries["deliveries"]] == [(action["id"], "succeeded")]
    assert wait_until(lambda: sim_call(local_stack, wacid)["status"] in ("completed", "failed", "rejected"), 60)
    whatsapp = sim_call(local_stack, wacid)

    assert_spoken_conversation(log, "whatsapp")
    assert log["call_type"] == "Incoming" and log["to_number"] == "+14155550100"
    assert log["call_context"]["caller_number"] in (USER, f"+{USER}")
    assert log["details"]["whatsapp"]["wacid"] == wacid
    assert (whatsapp["status"], whatsapp["ended_by"]) == ("completed", "user"), whatsapp
    assert [(e["action"], e["status_code"]) for e in whatsapp["events"] if e["kind"] == "graph"] == [
        ("pre_accept", 200), ("accept", 200)]
    assert webhooks_delivered(whatsapp) == [("connect", 200), ("terminate", 200)]
    assert whatsapp["agent_speech_segments"] and whatsapp["agent_speech_ms"] > 1500


def test_a_business_call_to_a_whatsapp_user_with_permission_is_a_spoken_conversation(local_stack: dict) -> None:
    sim = local_stack["whatsapp_sim_url"]
    client = Client(local_stack["api_key"], base_url=local_stack["api_url"])
    agent = bakery_agent(client)
    number = import_whatsapp_number(local_stack, "+14155550111", "106540352242933")
    requests.put(f"{sim}/sim/whatsapp/permissions/106540352242933/{USER}", json={"status": "granted"},
                 timeout=10).raise_for_status()
    requests.put(f"{sim}/sim/whatsapp/users/{USER}", timeout=10, json={
        "answer": "accept", "answer_after_s": 1.0, "name": "Ada", "script": SCRIPT}).raise_for_status()

    with MonitorClient(local_stack["monitor_url"], api_key=local_stack["api_key"]) as watcher:
        watcher.send({"action": "subscribe"})
        watcher.wait_for(lambda e: e["type"] == "snapshot", timeout=20)
        call_id = client.call.dispatch_call(agent["id"], f"+{USER}",
                                            from_number_id=number["id"])["json"]["call_id"]
        log = finished_log(client, call_id, timeout=240)
        watcher.wait_for(lambda e: e["type"] == "call.ended" and e["call_id"] == call_id, timeout=120)
        events = watcher.of_call(call_id)

    assert_spoken_conversation(log, "whatsapp")
    for event in events:  # live monitoring saw it like any call: every event fits its schema
        check(event)
    statuses = [e["status"] for e in events if e["type"] == "call.status"]
    assert statuses[0] == "queued" and "ringing" in statuses and "in_progress" in statuses, statuses
    assert statuses.index("ringing") < statuses.index("in_progress") < statuses.index("ended"), statuses
    assert any(e["type"] == "transcript.final" and e.get("role") == "user" for e in events), events
    wacid = log["details"]["whatsapp"]["wacid"]
    assert wait_until(lambda: sim_call(local_stack, wacid)["status"] in ("completed", "failed", "rejected"), 60)
    whatsapp = sim_call(local_stack, wacid)
    assert whatsapp["direction"] == "BUSINESS_INITIATED"
    assert (whatsapp["status"], whatsapp["ended_by"]) == ("completed", "user"), whatsapp
    assert whatsapp["biz_opaque_callback_data"] == str(call_id)
    assert webhooks_delivered(whatsapp) == [("status:RINGING", 200), ("connect", 200), ("status:ACCEPTED", 200),
                                            ("terminate", 200)]
    assert whatsapp["agent_speech_segments"]


def test_a_business_call_to_a_user_without_permission_fails_without_ringing(local_stack: dict) -> None:
    sim = local_stack["whatsapp_sim_url"]
    client = Client(local_stack["api_key"], base_url=local_stack["api_url"])
    agent = bakery_agent(client)
    number = import_whatsapp_number(local_stack, "+14155550122", "106540352242944")
    stranger = "447700900999"

    call_id = client.call.dispatch_call(agent["id"], f"+{stranger}", from_number_id=number["id"])["json"]["call_id"]

    def log() -> dict:
        return dict(client.call.get_call_log(call_id)["json"])

    assert wait_until(lambda: log()["call_status"] not in ("queued", "ringing", "in_progress"), 60), log()
    assert log()["call_status"] == "failed", log()
    assert "permission" in log()["details"]["reason"].lower()
    calls = requests.get(f"{sim}/sim/whatsapp/calls", timeout=10).json()["calls"]
    assert not [c for c in calls if c["user_wa_id"] == stranger]
