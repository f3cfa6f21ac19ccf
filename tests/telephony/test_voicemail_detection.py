"""Answering machine detection: an agent with voicemail enabled places its calls with Twilio's async AMD; the
signed AMD result is recorded on the call, and a forged one is refused like a forged status callback."""
from __future__ import annotations

import requests

from chalicelib.telephony.twilio_signature import compute_signature
from tests.conftest import AGENT, Tenant

SID, TOKEN = "AC" + "34" * 16, "tok_" + "w" * 28


def _dispatch(tenant: Tenant, agent: dict, to: str = "+14155550123") -> int:
    agent_id = tenant.post("agents/create", json=agent).json()["id"]
    number = tenant.post("phone_number/import/twilio", json={
        "phone_number": "+15005550006", "account_sid": SID, "account_token": TOKEN}).json()["phone_number"]["id"]
    dispatched = tenant.post("calls/dispatch", json={"agent_id": agent_id, "to_number": to,
                                                     "from_number_id": number})
    assert dispatched.status_code == 201, dispatched.text
    return int(dispatched.json()["call_id"])


def _sim_call(carrier, to: str) -> dict:
    [found] = [c for c in requests.get(f"{carrier.url}/sim/calls", timeout=5).json()["calls"] if c["to"] == to]
    return found


def test_a_signed_amd_result_is_recorded_and_a_forged_one_refused(tenant: Tenant, api: str, carrier) -> None:
    call_id = _dispatch(tenant, AGENT, to="+14155550124")
    sid = _sim_call(carrier, "+14155550124")["sid"]
    url = f"{api}/api/v1/telephony/twilio/amd/{tenant.account_id}/{call_id}"
    form = {"CallSid": sid, "AccountSid": SID, "AnsweredBy": "human", "MachineDetectionDuration": "1830"}
    forged = requests.post(url, data=form, headers={"X-Twilio-Signature": compute_signature("guess", url, form)})
    assert forged.status_code == 403 and forged.json()["error"] == "invalid_signature"
    signed = requests.post(url, data=form, headers={"X-Twilio-Signature": compute_signature(TOKEN, url, form)})
    assert signed.status_code == 204, signed.text
    details = tenant.get(f"calls/logs/{call_id}").json()["details"]
    assert (details["answered_by"], details["machine_detection_ms"]) == ("human", 1830)
    other = {**form, "CallSid": "CA" + "9" * 32}  # a genuine signature for another call's sid
    refused = requests.post(url, data=other, headers={"X-Twilio-Signature": compute_signature(TOKEN, url, other)})
    assert refused.status_code == 403


def test_an_agent_enabling_voicemail_is_accepted(tenant: Tenant) -> None:
    created = tenant.post("agents/create", json={**AGENT, "voicemail": {"enabled": True, "message": "Call us back."}})
    assert created.status_code == 201, created.text
    assert tenant.get(f"agents/{created.json()['id']}").json()["voicemail"] == {"enabled": True,
                                                                                "message": "Call us back."}
