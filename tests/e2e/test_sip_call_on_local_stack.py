"""A call from a SIP trunk number on the local stack, exactly as ``make dev`` runs it: the number imported with
``import/sip`` (and the Twilio account that dials it), the carrier simulator's trunk expecting its digest
credentials; a dispatched call dials the trunk's ``sip:`` URI, the scripted callee talks to the agent over the
same Media Stream, and the call ends completed with its transcript in the call log."""
from __future__ import annotations

import pytest
import requests
from omnidimension import Client

from tests.e2e.test_voice_call_on_local_stack import WELCOME, bakery_agent, finished_log, words

pytestmark = pytest.mark.slow

TWILIO_SID = "AC" + "e5" * 16
NUMBER, CALLEE = "+442071838750", "+15557654321"
QUESTION = "What time do you open tomorrow morning?"


def test_a_call_from_a_sip_number_dials_the_trunk_and_is_a_spoken_conversation(local_stack: dict) -> None:
    api, sim = local_stack["api_url"], local_stack["carrier_sim_url"]
    headers = {"Authorization": f"Bearer {local_stack['api_key']}"}
    client = Client(local_stack["api_key"], base_url=api)
    agent = bakery_agent(client)
    requests.put(f"{sim}/sim/sip-trunks", timeout=5, json={"sip_trunks": [
        {"host": "127.0.0.1", "username": "bakery-pbx", "password": "pbx-secret-1"}]}).raise_for_status()
    imported = requests.post(f"{api}/phone_number/import/sip", headers=headers, timeout=30, json={
        "phone_number": NUMBER, "sip_host": "127.0.0.1", "sip_trunk_name": "bakery-pbx", "sip_transport": "tcp",
        "sip_username": "bakery-pbx", "sip_password": "pbx-secret-1", "twilio_account_sid": TWILIO_SID,
        "twilio_account_token": "tok_" + "x" * 28})
    assert imported.status_code == 201, imported.text
    number = imported.json()["phone_number"]
    rules = requests.get(f"{sim}/sim/rules", timeout=5).json()
    script = [{"wait_agent": {"silence": 1.0, "timeout": 60}}, {"say": QUESTION},
              {"wait_agent": {"silence": 1.5, "timeout": 90}}, {"hang_up": True}]
    requests.put(f"{sim}/sim/rules", json={**rules, "answer_delay": 0.2, "scripts": {CALLEE: script}},
                 timeout=5).raise_for_status()

    call_id = client.call.dispatch_call(agent["id"], CALLEE, from_number_id=number["id"])["json"]["call_id"]
    log = finished_log(client, call_id, timeout=240)

    assert log.get("call_status") == "completed", log
    turns = log["transcript"]
    assert turns[0]["role"] == "agent" and turns[0]["text"] == WELCOME
    heard = " ".join(t["text"] for t in turns if t["role"] == "user")
    assert {"open", "tomorrow"} <= set(words(heard)), turns
    [sim_call] = [c for c in requests.get(f"{sim}/sim/calls", timeout=5).json()["calls"]
                  if c["to"].startswith("sip:")]
    assert sim_call["to"] == f"sip:{CALLEE}@127.0.0.1:5060;transport=tcp"
    assert (sim_call["sip_auth_username"], sim_call["sip_response_code"]) == ("bakery-pbx", 200)
