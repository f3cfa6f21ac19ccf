"""SIP trunk numbers, through the API and the carrier simulator over HTTP: a dispatched call dials the trunk's
``sip:`` URI with its digest credentials and completes; wrong credentials end it ``failed`` with the trunk's
SIP response; private, loopback and link-local SIP hosts are refused at import (422) and at dial time; an
inbound call from a Twilio SIP Domain reaches the same voice webhook."""
from __future__ import annotations

from typing import Any

import pytest
import requests

from chalicelib.telephony import sip
from chalicelib.telephony.twilio_signature import compute_signature
from devstack.carrier_sim.sip import SipAuth
from tests.conftest import AGENT, Tenant
from tests.telephony.waiting import wait_for_value

SID, TOKEN = "AC" + "56" * 16, "tok_" + "s" * 28
NUMBER, CALLEE, CALLER = "+442071838750", "+14155550123", "+14155550199"
TRUNK_USER, TRUNK_PASSWORD = "parley-trunk", "trunk-pass-1"


@pytest.fixture()
def local_trunks(monkeypatch: pytest.MonkeyPatch, carrier: Any) -> Any:
    """SIP hosts on 127.0.0.1 allowed (as on the local stack), and the simulator's trunk there checks credentials."""
    monkeypatch.setenv("PARLEY_SIP_ALLOWED_NETWORKS", "127.0.0.0/8")
    carrier.sip_trunks.set("127.0.0.1", SipAuth(TRUNK_USER, TRUNK_PASSWORD))
    return carrier


def _sip_import(tenant: Tenant, **fields: Any) -> requests.Response:
    body = {"phone_number": NUMBER, "sip_host": "127.0.0.1", "sip_trunk_name": "office-pbx", "sip_port": 5080,
            "sip_transport": "tcp", "sip_username": TRUNK_USER, "sip_password": TRUNK_PASSWORD,
            "sip_dial_prefix": "9", "sip_strip_plus": True, "twilio_account_sid": SID, "twilio_account_token": TOKEN}
    body.update(fields)
    return tenant.post("phone_number/import/sip", json={k: v for k, v in body.items() if v is not None})


def _imported(tenant: Tenant, **fields: Any) -> dict[str, Any]:
    answer = _sip_import(tenant, **fields)
    assert answer.status_code == 201, answer.text
    return answer.json()["phone_number"]


def _dispatch(tenant: Tenant, number_id: int) -> dict[str, Any]:
    agent_id = tenant.post("agents/create", json=AGENT).json()["id"]
    answer = tenant.post("calls/dispatch", json={"agent_id": agent_id, "to_number": CALLEE,
                                                 "from_number_id": number_id})
    assert answer.status_code == 201, answer.text
    return answer.json()


def _final_log(tenant: Tenant, call_id: int) -> dict[str, Any]:
    return wait_for_value(lambda: (log := tenant.get(f"calls/logs/{call_id}").json())["call_status"]
                 in ("completed", "failed", "busy", "no_answer") and log)


def _error(answer: requests.Response, status: int, field: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) >= {"error", "error_description"} and field in body["error_description"], body
    return body


def test_a_dispatched_call_from_a_sip_number_dials_the_trunk_uri_with_its_credentials_and_completes(
        tenant: Tenant, local_trunks: Any) -> None:
    number = _imported(tenant)
    assert number["dialable"] is True and number["settings"]["twilio_account_sid"] == SID
    listed = tenant.get("phone_number/list").text
    assert TRUNK_PASSWORD not in listed and TOKEN not in listed
    inbound = number["inbound"]
    assert inbound["configured"] is False and inbound["voice_url"] in inbound["manual_steps"]
    assert "SIP Domain" in inbound["manual_steps"]

    call_id = _dispatch(tenant, number["id"])["call_id"]
    log = _final_log(tenant, call_id)
    assert log["call_status"] == "completed" and log["details"]["carrier_status"] == "completed"
    [sim_call] = requests.get(f"{local_trunks.url}/sim/calls", timeout=5).json()["calls"]
    assert sim_call["to"] == "sip:914155550123@127.0.0.1:5080;transport=tcp"
    assert (sim_call["from"], sim_call["account_sid"], sim_call["sip_auth_username"]) == (NUMBER, SID, TRUNK_USER)
    assert sim_call["outcome"] == "completed" and sim_call["sip_response_code"] == 200
    assert sim_call["stream"]["verb"] == "Connect" and sim_call["stream"]["parameters"]["call_id"] == str(call_id)


def test_wrong_sip_credentials_end_the_call_failed_with_the_trunks_refusal(
        tenant: Tenant, local_trunks: Any) -> None:
    number = _imported(tenant, sip_password="not-the-password")
    call_id = _dispatch(tenant, number["id"])["call_id"]
    log = _final_log(tenant, call_id)
    assert log["call_status"] == "failed" and log["details"]["carrier_status"] == "failed"
    [sim_call] = requests.get(f"{local_trunks.url}/sim/calls", timeout=5).json()["calls"]
    assert (sim_call["outcome"], sim_call["sip_response_code"], sim_call["ringing_at"]) == ("failed", 403, None)
    assert sim_call["stream"] is None  # never answered, nothing streamed


def test_a_trunk_that_wants_credentials_refuses_a_number_imported_without_them(
        tenant: Tenant, local_trunks: Any) -> None:
    number = _imported(tenant, sip_username=None, sip_password=None)
    log = _final_log(tenant, _dispatch(tenant, number["id"])["call_id"])
    assert log["call_status"] == "failed"
    [sim_call] = requests.get(f"{local_trunks.url}/sim/calls", timeout=5).json()["calls"]
    assert (sim_call["sip_auth_username"], sim_call["sip_response_code"]) == (None, 401)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "10.1.2.3", "192.168.0.10", "169.254.169.254",
                                  "[::1]", "fe80::1", "::ffff:10.0.0.1", "0.0.0.0"])
def test_private_loopback_and_link_local_sip_hosts_are_refused_at_import(tenant: Tenant, host: str) -> None:
    body = _error(_sip_import(tenant, sip_host=host), 422, "sip_host")
    assert body.get("field") == "sip_host" and "public" in body["error_description"]
    assert tenant.get("phone_number/list").json()["phone_numbers"] == []


def test_a_host_that_turned_private_after_import_is_refused_at_dial_time(
        tenant: Tenant, local_trunks: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    number = _imported(tenant)
    monkeypatch.delenv("PARLEY_SIP_ALLOWED_NETWORKS")  # as in a deployment: 127.0.0.1 is not a SIP target
    log = _final_log(tenant, _dispatch(tenant, number["id"])["call_id"])
    assert log["call_status"] == "failed" and "SIP host refused" in log["details"]["reason"]
    assert requests.get(f"{local_trunks.url}/sim/calls", timeout=5).json()["calls"] == []


@pytest.mark.parametrize(("fields", "field"), [
    ({"sip_password": None}, "sip_password"),
    ({"sip_username": None}, "sip_username"),
    ({"twilio_account_token": None}, "twilio_account_token"),
    ({"twilio_account_sid": None}, "twilio_account_sid"),
    ({"sip_transport": "sctp"}, "sip_transport"),
    ({"sip_host": "pbx@evil.example"}, "sip_host"),
    ({"sip_username": "user@host"}, "sip_username"),
    ({"sip_port": 70000}, "sip_port"),
    ({"sip_dial_prefix": "9a"}, "sip_dial_prefix"),
    ({"twilio_account_sid": "AC123"}, "twilio_account_sid"),
])
def test_malformed_sip_settings_get_a_clear_422(tenant: Tenant, local_trunks: Any, fields: dict[str, Any],
                                               field: str) -> None:
    _error(_sip_import(tenant, **fields), 422, field)


def test_a_sip_number_without_a_twilio_account_is_stored_but_cannot_be_dialled(
        tenant: Tenant, local_trunks: Any) -> None:
    number = _imported(tenant, twilio_account_sid=None, twilio_account_token=None)
    assert number["dialable"] is False and number["inbound"] is None
    agent_id = tenant.post("agents/create", json=AGENT).json()["id"]
    answer = tenant.post("calls/dispatch", json={"agent_id": agent_id, "to_number": CALLEE,
                                                 "from_number_id": number["id"]})
    _error(answer, 409, "twilio_account_sid")


def test_an_inbound_call_from_a_twilio_sip_domain_reaches_the_numbers_voice_webhook(
        tenant: Tenant, local_trunks: Any) -> None:
    number = _imported(tenant)
    agent_id = tenant.post("agents/create", json=AGENT).json()["id"]
    assert tenant.post("phone_number/attach", json={"phone_number_id": number["id"],
                                                    "agent_id": agent_id}).status_code == 200
    url = number["inbound"]["voice_url"]
    form = {"CallSid": "CA" + "7" * 32, "AccountSid": SID, "From": f"sip:{CALLER}@203.0.113.5;transport=udp",
            "To": f"sip:{NUMBER}@acme.sip.twilio.com", "CallStatus": "ringing", "Direction": "inbound"}
    answer = requests.post(url, data=form, headers={"X-Twilio-Signature": compute_signature(TOKEN, url, form)},
                           timeout=10)
    assert answer.status_code == 200 and "<Connect><Stream" in answer.text, answer.text
    [call] = tenant.get("calls/logs").json()["call_log_data"]
    assert (call["call_type"], call["agent_id"], call["from_number_id"]) == ("Incoming", agent_id, number["id"])
    assert call["call_context"] == {"caller_number": CALLER}
    forged = requests.post(url, data=form, headers={"X-Twilio-Signature": compute_signature("x" * 32, url, form)},
                           timeout=10)
    assert forged.status_code == 403


def test_the_simulator_refuses_malformed_sip_destinations_and_half_given_credentials(carrier: Any) -> None:
    base = f"{carrier.url}/2010-04-01/Accounts/{SID}/Calls.json"
    form = {"From": NUMBER, "Twiml": "<Response/>"}
    bad_uri = requests.post(base, data={**form, "To": "sip:@host"}, auth=(SID, TOKEN), timeout=5)
    assert bad_uri.status_code == 400 and bad_uri.json()["code"] == 21211
    half = requests.post(base, data={**form, "To": "sip:+1415@pbx.example.com", "SipAuthUsername": "u"},
                         auth=(SID, TOKEN), timeout=5)
    assert half.status_code == 400 and "SipAuthPassword" in half.json()["message"]
    trunks = requests.put(f"{carrier.url}/sim/sip-trunks", json={"sip_trunks": [
        {"host": "pbx.example.com", "username": "u", "password": "p"}]}, timeout=5).json()
    assert trunks == {"sip_trunks": [{"host": "pbx.example.com", "username": "u"}]}


def test_the_sip_uri_carries_prefix_plus_port_transport_and_brackets_ipv6() -> None:
    settings = {"sip_host": "2001:db8::5", "sip_port": 5061, "sip_transport": "tls"}
    assert sip.sip_uri(CALLEE, settings) == "sip:+14155550123@[2001:db8::5]:5061;transport=tls"
    assert sip.sip_uri(CALLEE, {"sip_host": "pbx.example.com", "sip_dial_prefix": "00", "sip_strip_plus": True}) \
        == "sip:0014155550123@pbx.example.com:5060"
    assert sip.number_in("sip:+14155550199@1.2.3.4;transport=udp") == "+14155550199"
    assert sip.number_in("+14155550199") == "+14155550199"
