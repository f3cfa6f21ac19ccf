"""Phone numbers (import, attach, detach; tokens never returned) and calls (dispatch, logs)."""
from __future__ import annotations

from tests.conftest import AGENT, TWILIO_SID, Tenant

TOKEN = "9f" * 16


def _number(tenant: Tenant, number: str = "+14155550100") -> int:
    response = tenant.post("phone_number/import/twilio", json={
        "phone_number": number, "account_sid": TWILIO_SID, "account_token": TOKEN, "name": "Main line"})
    assert response.status_code == 201, response.text
    return response.json()["phone_number"]["id"]


def test_twilio_token_is_sealed_and_never_returned(tenant: Tenant) -> None:
    _number(tenant)
    listing = tenant.get("phone_number/list")
    assert TOKEN not in listing.text
    from chalicelib.db.models import PhoneNumber

    item = next(iter(PhoneNumber.query(tenant.account_id)))
    assert TOKEN.encode() not in item.sealed_credentials
    from chalicelib.secrets_box import secret_box_from_settings

    opened = secret_box_from_settings().open(item.sealed_credentials, account_id=tenant.account_id)
    assert opened["auth_token"] == TOKEN


def test_sip_import_without_a_twilio_account_is_stored_but_not_dialable(tenant: Tenant) -> None:
    response = tenant.post("phone_number/import/sip", json={
        "phone_number": "+442071838750", "sip_host": "sip.example.net", "sip_trunk_name": "trunk-1",
        "sip_username": "trunk-user", "sip_password": "hunter2-secret"})
    assert response.status_code == 201
    number = response.json()["phone_number"]
    assert number["provider"] == "sip" and number["dialable"] is False
    assert number["settings"]["sip_port"] == 5060
    assert "hunter2-secret" not in tenant.get("phone_number/list").text


def test_attach_and_detach(tenant: Tenant) -> None:
    agent = tenant.post("agents/create", json=AGENT).json()["id"]
    number = _number(tenant)
    attached = tenant.post("phone_number/attach", json={"phone_number_id": number, "agent_id": agent})
    assert attached.status_code == 200 and attached.json()["phone_number"]["agent_id"] == agent
    missing_agent = tenant.post("phone_number/attach", json={"phone_number_id": number, "agent_id": 424242})
    assert missing_agent.status_code == 404 and missing_agent.json()["field"] == "agent_id"
    detached = tenant.post("phone_number/detach", json={"phone_number_id": number})
    assert detached.json()["phone_number"]["agent_id"] is None


def test_dispatch_creates_a_queued_call_visible_in_logs(tenant: Tenant) -> None:
    agent = tenant.post("agents/create", json=AGENT).json()["id"]
    number = _number(tenant)
    dispatched = tenant.post("calls/dispatch", json={
        "agent_id": agent, "to_number": "+14155550123", "from_number_id": number,
        "call_context": {"customer_name": "Ada"}})
    assert dispatched.status_code == 201
    call_id = dispatched.json()["call_id"]
    assert dispatched.json()["call_status"] == "queued"
    log = tenant.get(f"calls/logs/{call_id}").json()
    assert log["call_status"] in ("queued", "ringing", "in_progress", "completed")
    assert log["call_context"] == {"customer_name": "Ada"}
    assert log["from_number_id"] == number


def test_logs_filter_by_agent_and_status_and_page(tenant: Tenant) -> None:
    a1 = tenant.post("agents/create", json=AGENT).json()["id"]
    a2 = tenant.post("agents/create", json=AGENT).json()["id"]
    _number(tenant)
    ids = [tenant.post("calls/dispatch", json={"agent_id": agent, "to_number": "+14155550123"}).json()["call_id"]
           for agent in (a1, a2, a1, a1)]
    by_agent = tenant.get("calls/logs", params={"agentid": a1, "pagesize": 2}).json()
    assert by_agent["total_records"] == 3
    assert [c["id"] for c in by_agent["call_log_data"]] == [ids[3], ids[2]]
    statuses = {c["id"]: c["call_status"] for c in tenant.get("calls/logs").json()["call_log_data"]}
    for status in set(statuses.values()):
        filtered = tenant.get("calls/logs", params={"call_status": status}).json()
        expected = {i for i, s in statuses.items() if s == status} | set(ids)
        assert {c["id"] for c in filtered["call_log_data"]} <= expected


def test_providers_list_the_engines_on_offer(tenant: Tenant) -> None:
    stt = tenant.get("providers/stt").json()
    assert {"whisper", "amazon_transcribe"} <= {s["name"] for s in stt["stt"]}
    assert tenant.get("providers/llms").json()["total"] >= 2
    assert {"piper", "polly"} <= {s["name"] for s in tenant.get("providers/tts").json()["tts"]}
    voices = tenant.get("providers/voices", params={"provider": "polly"}).json()
    assert voices["voices"] and all(v["provider"] == "polly" for v in voices["voices"])
    assert tenant.get("providers/voice/1").json()["provider"] == "piper"
    assert tenant.get("providers/voice/999").status_code == 404
