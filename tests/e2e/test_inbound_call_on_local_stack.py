"""An inbound call on the local stack, exactly as ``make dev`` runs it: a number imported (its webhooks set on
the carrier simulator through IncomingPhoneNumbers) and attached to an agent; the simulator rings it with a
scripted caller; the agent greets, hears the question and answers in speech; the call ends completed with its
transcript, recording and turn metrics in the call log, and the agent's post-call webhook is delivered."""
from __future__ import annotations

import pytest
import requests
from omnidimension import Client

from tests.e2e.test_voice_call_on_local_stack import assert_spoken_conversation, bakery_agent, finished_log
from tests.post_call.pipeline import wait_until
from tests.post_call.receivers import Receiver, serve

pytestmark = pytest.mark.slow

TWILIO_SID = "AC" + "e3" * 16
NUMBER, CALLER = "+15005550016", "+15557654399"
QUESTION = "What time do you open tomorrow morning?"


def test_a_caller_ringing_an_attached_number_talks_to_its_agent_and_the_call_is_delivered(local_stack: dict) -> None:
    api, sim = local_stack["api_url"], local_stack["carrier_sim_url"]
    headers = {"Authorization": f"Bearer {local_stack['api_key']}"}
    client = Client(local_stack["api_key"], base_url=api)
    agent = bakery_agent(client)
    imported = requests.post(f"{api}/phone_number/import/twilio", headers=headers, timeout=30, json={
        "phone_number": NUMBER, "account_sid": TWILIO_SID, "account_token": "tok_" + "w" * 28}).json()
    number = imported["phone_number"]
    assert number["inbound"]["configured"] is True, number["inbound"]
    attached = requests.post(f"{api}/phone_number/attach", headers=headers, timeout=30,
                             json={"phone_number_id": number["id"], "agent_id": agent["id"]})
    assert attached.status_code == 200, attached.text
    script = [{"wait_agent": {"silence": 1.0, "timeout": 60}}, {"say": QUESTION},
              {"wait_agent": {"silence": 1.5, "timeout": 90}}, {"hang_up": True}]

    with serve(Receiver()) as receiver:
        action = client.agent.add_post_call_action(
            agent["id"], "webhook", url=receiver.url, trigger_call_statuses=["completed"],
            payload_template={"call": "{{call_id}}", "caller": "{{call_context.caller_number}}"})["json"]
        placed = requests.post(f"{sim}/sim/inbound", json={"to": NUMBER, "from": CALLER, "script": script},
                               timeout=10)
        assert placed.status_code == 201, placed.text
        def logs() -> list[dict]:
            return requests.get(f"{api}/calls/logs", headers=headers, timeout=10).json()["call_log_data"]

        assert wait_until(lambda: bool(logs()), 30)
        [call] = logs()
        call_id = call["id"]
        log = finished_log(client, call_id, timeout=240)
        assert wait_until(lambda: bool(receiver.received), 60)

    assert_spoken_conversation(log, "phone")
    assert log["call_type"] == "Incoming", log
    assert log["call_context"] == {"caller_number": CALLER} and log["to_number"] == NUMBER

    [request] = receiver.received
    assert request.json == {"call": call_id, "caller": CALLER}
    deliveries = requests.get(f"{api}/calls/logs/{call_id}/deliveries", headers=headers, timeout=10).json()
    assert [(d["action_id"], d["status"]) for d in deliveries["deliveries"]] == [(action["id"], "succeeded")]
