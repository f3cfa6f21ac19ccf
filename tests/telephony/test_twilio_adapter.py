"""The Twilio adapter speaks Twilio's REST wire format; callbacks are accepted only when signed."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import requests

from chalicelib.telephony import stream_tokens
from chalicelib.telephony.twilio_signature import compute_signature
from tests.conftest import AGENT, Tenant

SID, TOKEN = "AC" + "12" * 16, "tok_" + "q" * 28


def _dispatch(tenant: Tenant) -> dict:
    agent = tenant.post("agents/create", json=AGENT).json()["id"]
    number = tenant.post("phone_number/import/twilio", json={
        "phone_number": "+15005550006", "account_sid": SID, "account_token": TOKEN}).json()["phone_number"]["id"]
    return tenant.post("calls/dispatch", json={"agent_id": agent, "to_number": "+14155550123",
                                               "from_number_id": number}).json()


def test_dispatch_places_the_call_with_connect_stream_twiml(tenant: Tenant, carrier) -> None:
    import time

    call_id = _dispatch(tenant)["call_id"]
    time.sleep(0.5)  # the carrier reads the TwiML when the call is answered (after 0.2 s)
    placed = requests.get(f"{carrier.url}/sim/calls").json()["calls"]
    assert len(placed) == 1
    call = placed[0]
    assert call["account_sid"] == SID and call["to"] == "+14155550123" and call["from"] == "+15005550006"
    assert call["status_callback"].endswith(f"/api/v1/telephony/twilio/status/{tenant.account_id}/{call_id}")
    stream = call["stream"]
    assert stream["url"].endswith("/twilio")
    params = stream["parameters"]
    assert params["call_id"] == str(call_id)
    assert stream_tokens.verify("test-stream-secret", params["token"], call_id) is not None


def test_status_callbacks_drive_the_call_to_completed(tenant: Tenant, carrier) -> None:
    import time

    call_id = _dispatch(tenant)["call_id"]
    deadline = time.monotonic() + 10
    while tenant.get(f"calls/logs/{call_id}").json()["call_status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    log = tenant.get(f"calls/logs/{call_id}").json()
    assert {"ringing_at", "in_progress_at", "completed_at"} <= set(log["details"])


def test_forged_or_unsigned_callbacks_are_refused(tenant: Tenant, api: str) -> None:
    from chalicelib.db.models import Call

    call_id = _dispatch(tenant)["call_id"]
    url = f"{api}/api/v1/telephony/twilio/status/{tenant.account_id}/{call_id}"
    carrier_sid = Call.get(tenant.account_id, call_id).carrier_sid
    form = {"CallSid": carrier_sid, "CallStatus": "busy", "AccountSid": SID}
    assert requests.post(url, data=form).status_code == 403
    forged = compute_signature("not-the-token", url, form)
    assert requests.post(url, data=form, headers={"X-Twilio-Signature": forged}).status_code == 403
    good = compute_signature(TOKEN, url, form)
    other_form = {**form, "CallSid": "CA" + "0" * 32}
    other_call = requests.post(url, data=other_form,
                               headers={"X-Twilio-Signature": compute_signature(TOKEN, url, other_form)})
    assert other_call.status_code == 403
    assert requests.post(url, data=form, headers={"X-Twilio-Signature": good}).status_code == 204


def test_twiml_is_well_formed_and_escaped() -> None:
    from chalicelib.db.models import Call
    from chalicelib.telephony.twilio import TwilioConfig, twiml_for

    config = TwilioConfig("https://api", "https://pub", 'wss://s.example/twilio?a=1&b="2"', "secret")
    root = ET.fromstring(twiml_for(config, Call(1, 7)).encode())
    stream = root.find("./Connect/Stream")
    assert stream is not None and stream.get("url") == 'wss://s.example/twilio?a=1&b="2"'
    assert {p.get("name") for p in stream.findall("Parameter")} == {"call_id", "token"}


def test_stream_tokens_expire_and_bind_to_one_call() -> None:
    token = stream_tokens.issue("s", 1, 5, ttl_seconds=60, now=1000)
    assert stream_tokens.verify("s", token, 5, now=1030)
    assert stream_tokens.verify("s", token, 6, now=1030) is None
    assert stream_tokens.verify("s", token, 5, now=1061) is None
    assert stream_tokens.verify("other", token, 5, now=1030) is None
    assert stream_tokens.verify("s", token[:-2] + "xx", 5, now=1030) is None


def test_stream_secret_can_come_from_secrets_manager_for_phone_and_web_calls(monkeypatch) -> None:
    import boto3
    from moto import mock_aws

    from chalicelib.domain.web_calls import WebCallSettings
    from chalicelib.telephony import twilio

    with mock_aws():
        arn = boto3.client("secretsmanager").create_secret(Name="s", SecretString="from-secrets-manager")["ARN"]
        monkeypatch.delenv("PARLEY_STREAM_TOKEN_SECRET", raising=False)
        monkeypatch.setenv("PARLEY_STREAM_TOKEN_SECRET_ARN", arn)
        stream_tokens.secret_value.cache_clear()
        assert twilio.TwilioConfig.from_env().stream_token_secret == "from-secrets-manager"
        assert WebCallSettings.from_env().stream_token_secret == "from-secrets-manager"
    stream_tokens.secret_value.cache_clear()
