"""Inbound calls on a Twilio number, through the carrier simulator over HTTP: import configures the number's
webhooks, a caller rings it, the signed voice webhook answers with the stream, the number's status callback
ends the call. Forged, unknown and malformed webhooks write nothing and never answer 500."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from chalicelib.telephony.twilio_signature import compute_signature
from tests.conftest import AGENT, Tenant
from tests.telephony.waiting import wait_for_value

SID, TOKEN = "AC" + "34" * 16, "tok_" + "i" * 28
NUMBER, CALLER = "+15005550006", "+14155550199"


def _import(tenant: Tenant, number: str = NUMBER) -> dict[str, Any]:
    answer = tenant.post("phone_number/import/twilio", json={"phone_number": number, "account_sid": SID,
                                                             "account_token": TOKEN})
    assert answer.status_code == 201, answer.text
    return answer.json()["phone_number"]


def _attached(tenant: Tenant, **agent: Any) -> tuple[int, int]:
    agent_id = tenant.post("agents/create", json={**AGENT, **agent}).json()["id"]
    number_id = _import(tenant)["id"]
    attached = tenant.post("phone_number/attach", json={"phone_number_id": number_id, "agent_id": agent_id})
    assert attached.status_code == 200, attached.text
    return agent_id, number_id


def _voice_url(api: str, account_id: int, number_id: int) -> str:
    return f"{api}/api/v1/telephony/twilio/voice/{account_id}/{number_id}"


def _signed_post(url: str, form: dict[str, str], token: str = TOKEN) -> requests.Response:
    return requests.post(url, data=form, headers={"X-Twilio-Signature": compute_signature(token, url, form)},
                         timeout=10)


def _form(call_sid: str = "CA" + "5" * 32) -> dict[str, str]:
    return {"CallSid": call_sid, "AccountSid": SID, "From": CALLER, "To": NUMBER, "CallStatus": "ringing",
            "Direction": "inbound"}


def _calls(tenant: Tenant) -> list[dict[str, Any]]:
    return tenant.get("calls/logs").json()["call_log_data"]


def test_importing_a_number_points_its_voice_webhook_and_status_callback_at_parley(
        tenant: Tenant, api: str, carrier: Any) -> None:
    number = _import(tenant)
    inbound = number["inbound"]
    assert inbound["configured"] is True and inbound["manual_steps"] is None
    assert inbound["voice_url"] == _voice_url(api, tenant.account_id, number["id"])
    listed = requests.get(f"{carrier.url}/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers.json",
                          params={"PhoneNumber": NUMBER}, auth=(SID, TOKEN), timeout=5).json()
    [resource] = listed["incoming_phone_numbers"]
    assert (resource["voice_url"], resource["voice_method"]) == (inbound["voice_url"], "POST")
    assert (resource["status_callback"], resource["status_callback_method"]) == (inbound["status_callback"], "POST")


def test_a_refused_configuration_still_imports_and_says_what_to_set_by_hand(
        tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_TWILIO_API_URL", "http://127.0.0.1:9")  # nothing listens: Twilio unreachable
    number = _import(tenant)
    inbound = number["inbound"]
    assert inbound["configured"] is False
    assert inbound["voice_url"] in inbound["manual_steps"] and "Twilio console" in inbound["manual_steps"]
    assert [n["id"] for n in tenant.get("phone_number/list").json()["phone_numbers"]] == [number["id"]]


def test_a_caller_ringing_an_attached_number_is_an_incoming_call_that_ends_completed(
        tenant: Tenant, carrier: Any) -> None:
    agent_id, number_id = _attached(tenant)
    placed = requests.post(f"{carrier.url}/sim/inbound", json={"to": NUMBER, "from": CALLER}, timeout=5)
    assert placed.status_code == 201, placed.text
    sid = placed.json()["sid"]

    [call] = wait_for_value(lambda: _calls(tenant))
    assert (call["call_type"], call["agent_id"], call["from_number_id"]) == ("Incoming", agent_id, number_id)
    assert call["to_number"] == NUMBER and call["call_context"] == {"caller_number": CALLER}
    sim_call = wait_for_value(lambda: (c := requests.get(f"{carrier.url}/sim/calls/{sid}", timeout=5).json())["stream"]
                     and c)
    assert sim_call["direction"] == "inbound" and sim_call["twiml_fetch"]["http_status"] == 200
    assert sim_call["stream"]["verb"] == "Connect"
    assert sim_call["stream"]["parameters"]["call_id"] == str(call["id"])
    assert sim_call["stream"]["parameters"]["token"]
    # The simulated caller hangs up after its talk time: the number's status callback ends the call.
    ended = wait_for_value(
        lambda: (log := tenant.get(f"calls/logs/{call['id']}").json())["call_status"] == "completed" and log)
    assert ended["details"]["carrier_status"] == "completed"
    [callback] = requests.get(f"{carrier.url}/sim/calls/{sid}", timeout=5).json()["callbacks"]
    assert callback["http_status"] == 204


def test_an_unattached_number_says_it_is_not_in_service_and_records_nothing(tenant: Tenant, api: str) -> None:
    number_id = _import(tenant)["id"]
    answer = _signed_post(_voice_url(api, tenant.account_id, number_id), _form())
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/xml")
    assert "<Say>" in answer.text and "not in service" in answer.text and "<Hangup/>" in answer.text
    assert "<Stream" not in answer.text
    assert _calls(tenant) == []


def test_an_agent_that_only_places_calls_does_not_answer(tenant: Tenant, api: str) -> None:
    _, number_id = _attached(tenant, call_type="Outgoing")
    answer = _signed_post(_voice_url(api, tenant.account_id, number_id), _form())
    assert answer.status_code == 200 and "not in service" in answer.text
    assert _calls(tenant) == []


def test_forged_and_unknown_number_webhooks_answer_403_and_write_nothing(tenant: Tenant, api: str) -> None:
    _, number_id = _attached(tenant)
    url = _voice_url(api, tenant.account_id, number_id)
    forged = _signed_post(url, _form(), token="guess")
    unsigned = requests.post(url, data=_form(), timeout=10)
    unknown = _signed_post(_voice_url(api, tenant.account_id, number_id + 1000), _form())
    other_account = _signed_post(_voice_url(api, tenant.account_id + 1000, number_id), _form())
    assert forged.status_code == 403 and forged.json()["error"] == "invalid_signature"
    for other in (unsigned, unknown, other_account):
        assert (other.status_code, other.json()) == (403, forged.json())
    assert _calls(tenant) == []


def test_malformed_webhook_fields_answer_a_clear_422(tenant: Tenant, api: str) -> None:
    _, number_id = _attached(tenant)
    url = _voice_url(api, tenant.account_id, number_id)
    without_to = {k: v for k, v in _form().items() if k != "To"}
    missing = _signed_post(url, without_to)
    assert missing.status_code == 422 and missing.json()["error_description"] == "To: field required"
    huge = _signed_post(url, {**_form(), "From": "+1" * 200})
    assert huge.status_code == 422 and huge.json()["error"] == "validation_error"
    bad_ids = _signed_post(f"{api}/api/v1/telephony/twilio/voice/x/{number_id}", _form())
    assert bad_ids.status_code == 422 and "account_id" in bad_ids.json()["error_description"]
    assert _calls(tenant) == []


def test_a_retried_webhook_answers_the_same_call_and_the_cap_answers_busy(
        tenant: Tenant, api: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_INBOUND_MAX_CONCURRENT", "1")
    _, number_id = _attached(tenant)
    url = _voice_url(api, tenant.account_id, number_id)
    first = _signed_post(url, _form("CA" + "1" * 32))
    retried = _signed_post(url, _form("CA" + "1" * 32))
    assert "<Connect><Stream" in first.text and "<Connect><Stream" in retried.text
    [call] = _calls(tenant)
    assert f'name="call_id" value="{call["id"]}"' in retried.text
    busy = _signed_post(url, _form("CA" + "2" * 32))
    assert busy.status_code == 200 and "busy" in busy.text and "<Stream" not in busy.text
    assert len(_calls(tenant)) == 1


def test_the_cap_holds_for_calls_arriving_at_once_and_an_ended_call_frees_its_slot(
        tenant: Tenant, api: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_INBOUND_MAX_CONCURRENT", "2")
    _, number_id = _attached(tenant)
    url = _voice_url(api, tenant.account_id, number_id)
    sids = [f"CA{index:032d}" for index in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda sid: _signed_post(url, _form(sid)), sids))
    connected = [sid for sid, answer in zip(sids, answers, strict=True) if "<Connect><Stream" in answer.text]
    assert len(connected) == 2 and all("busy" in a.text for a in answers if "<Stream" not in a.text)
    assert len(_calls(tenant)) == 2
    status_url = f"{api}/api/v1/telephony/twilio/number-status/{tenant.account_id}/{number_id}"
    ended = _signed_post(status_url, {"CallSid": connected[0], "CallStatus": "completed", "CallDuration": "3"})
    assert ended.status_code == 204, ended.text
    again = _signed_post(url, _form("CA" + "9" * 32))
    assert "<Connect><Stream" in again.text
    statuses = sorted(call["call_status"] for call in _calls(tenant))
    assert statuses == ["completed", "in_progress", "in_progress"]
