"""Registering a WhatsApp number (sealed secrets, conflicts, bad fields) and its webhook's gate: Meta's
verification request, and the signature checked before anything is read or written, over real HTTP."""
from __future__ import annotations

import json

import requests

from chalicelib.db.models import PhoneNumber
from tests.conftest import Tenant
from tests.whatsapp.conftest import (
    ACCESS_TOKEN,
    APP_SECRET,
    META_ID,
    NUMBER,
    WhatsApp,
    attached_number,
    calls_of,
    import_number,
    post_webhook,
    user_connect,
    webhook_url,
)


def test_importing_a_number_seals_its_secrets_and_says_what_to_set_in_the_meta_app(tenant: Tenant,
                                                                                      wa: WhatsApp) -> None:
    answer = tenant.post("phone_number/import/whatsapp", json={
        "phone_number": NUMBER, "whatsapp_phone_number_id": META_ID, "access_token": ACCESS_TOKEN,
        "app_secret": APP_SECRET, "name": "Support line"})
    assert answer.status_code == 201, answer.text
    number = answer.json()["phone_number"]
    assert (number["provider"], number["dialable"], number["name"]) == ("whatsapp", True, "Support line")
    url = webhook_url(wa.api, tenant.account_id, number["id"])
    settings = number["settings"]
    assert set(settings) == {"whatsapp_phone_number_id", "webhook_url", "verify_token"}
    assert (settings["whatsapp_phone_number_id"], settings["webhook_url"]) == (META_ID, url)
    assert len(settings["verify_token"]) == 32
    steps = number["inbound"]["manual_steps"]
    assert url in steps and settings["verify_token"] in steps and "'calls'" in steps and "Calling" in steps
    listed = tenant.get("phone_number/list")
    for text in (answer.text, listed.text):
        assert ACCESS_TOKEN not in text and APP_SECRET not in text
    assert listed.json()["phone_numbers"][0]["settings"] == settings
    stored = PhoneNumber.get(tenant.account_id, number["id"])
    assert stored.sealed_credentials and ACCESS_TOKEN.encode() not in stored.sealed_credentials
    assert APP_SECRET.encode() not in stored.sealed_credentials
    assert set(stored.settings) == {"whatsapp_phone_number_id", "verify_token"}


def test_a_meta_number_registers_once_anywhere_and_a_number_once_per_account(tenant: Tenant, other_tenant: Tenant,
                                                                             wa: WhatsApp) -> None:
    import_number(tenant, verify_token="my-own-verify-token-1")
    elsewhere = other_tenant.post("phone_number/import/whatsapp", json={
        "phone_number": "+14155550111", "whatsapp_phone_number_id": META_ID, "access_token": "t",
        "app_secret": "s"})
    assert elsewhere.status_code == 409 and elsewhere.json()["field"] == "whatsapp_phone_number_id"
    again = tenant.post("phone_number/import/whatsapp", json={
        "phone_number": NUMBER, "whatsapp_phone_number_id": "999", "access_token": "t", "app_secret": "s"})
    assert again.status_code == 409 and again.json()["field"] == "phone_number"
    assert other_tenant.get("phone_number/list").json()["phone_numbers"] == []
    # The refused imports claimed nothing: the Meta id 999 is still free.
    assert import_number(other_tenant, meta_id="999")["settings"]["whatsapp_phone_number_id"] == "999"


def test_bad_import_fields_answer_422_naming_the_field(tenant: Tenant, wa: WhatsApp) -> None:
    good = {"phone_number": NUMBER, "whatsapp_phone_number_id": META_ID, "access_token": "t", "app_secret": "s"}
    cases = {
        "whatsapp_phone_number_id": {**good, "whatsapp_phone_number_id": "10654-035"},
        "verify_token": {**good, "verify_token": "short"},
        "app_secret": {k: v for k, v in good.items() if k != "app_secret"},
        "access_token": {**good, "access_token": "x" * 1025},
        "phone_number": {**good, "phone_number": "14155550100"},
        "sealed": {**good, "sealed": True},
    }
    for field, body in cases.items():
        answer = tenant.post("phone_number/import/whatsapp", json=body)
        assert answer.status_code == 422, (field, answer.text)
        assert answer.json()["field"] == field
    assert tenant.get("phone_number/list").json()["phone_numbers"] == []


def test_meta_verification_echoes_the_challenge_only_for_the_numbers_verify_token(tenant: Tenant,
                                                                                   wa: WhatsApp) -> None:
    number = import_number(tenant, verify_token="verify-me-please-0123")
    url = webhook_url(wa.api, tenant.account_id, number["id"])
    ok = requests.get(url, params={"hub.mode": "subscribe", "hub.verify_token": "verify-me-please-0123",
                                   "hub.challenge": "1158201444"}, timeout=10)
    assert (ok.status_code, ok.text) == (200, "1158201444")
    assert ok.headers["Content-Type"].startswith("text/plain")
    wrong = requests.get(url, params={"hub.mode": "subscribe", "hub.verify_token": "guess-guess-guess",
                                      "hub.challenge": "1"}, timeout=10)
    unknown = requests.get(webhook_url(wa.api, tenant.account_id, number["id"] + 1000), params={
        "hub.mode": "subscribe", "hub.verify_token": "verify-me-please-0123", "hub.challenge": "1"}, timeout=10)
    other_mode = requests.get(url, params={"hub.mode": "unsubscribe", "hub.verify_token": "verify-me-please-0123",
                                           "hub.challenge": "1"}, timeout=10)
    assert wrong.status_code == 403 and wrong.json()["error"] == "verification_failed"
    for other in (unknown, other_mode):
        assert (other.status_code, other.json()) == (403, wrong.json())


def test_forged_unsigned_and_other_number_signatures_answer_403_and_write_nothing(tenant: Tenant,
                                                                                   wa: WhatsApp) -> None:
    _, number = attached_number(tenant)
    url = webhook_url(wa.api, tenant.account_id, number["id"])
    forged = post_webhook(url, user_connect(), secret="not-the-app-secret")
    unsigned = post_webhook(url, user_connect(), secret=None)
    raw = json.dumps(user_connect()).encode()
    garbled = requests.post(url, data=raw, headers={"Content-Type": "application/json",
                                                     "X-Hub-Signature-256": "md5=abc"}, timeout=10)
    unknown = post_webhook(webhook_url(wa.api, tenant.account_id, number["id"] + 1000), user_connect())
    other_account = post_webhook(webhook_url(wa.api, tenant.account_id + 1000, number["id"]), user_connect())
    assert forged.status_code == 403 and forged.json()["error"] == "invalid_signature"
    for other in (unsigned, garbled, unknown, other_account):
        assert (other.status_code, other.json()) == (403, forged.json())
    assert calls_of(tenant) == [] and wa.graph.requests == [] and wa.media.requests == []


def test_a_twilio_numbers_webhook_path_is_not_a_whatsapp_webhook(tenant: Tenant, wa: WhatsApp) -> None:
    twilio = tenant.post("phone_number/import/twilio", json={"phone_number": "+15005550006",
                                                            "account_sid": "AC" + "1" * 32,
                                                            "account_token": APP_SECRET}).json()["phone_number"]
    answer = post_webhook(webhook_url(wa.api, tenant.account_id, twilio["id"]), user_connect())
    assert answer.status_code == 403 and calls_of(tenant) == []


def test_a_body_too_big_is_413_and_a_verified_body_of_the_wrong_shape_is_400(tenant: Tenant, wa: WhatsApp) -> None:
    _, number = attached_number(tenant)
    url = webhook_url(wa.api, tenant.account_id, number["id"])
    huge = post_webhook(url, b"{" + b" " * (256 * 1024) + b"}")
    assert huge.status_code == 413 and huge.json()["error"] == "payload_too_large"
    for body in (b"not json", b"[]", json.dumps({"entry": "x"}).encode(),
                 json.dumps({"entry": [{"changes": [{"field": "calls", "value": {"calls": []}}]}]}).encode()):
        answer = post_webhook(url, body)
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_webhook", answer.text
    ignored = post_webhook(url, {"object": "whatsapp_business_account", "entry": [
        {"id": "1", "changes": [{"field": "messages", "value": {"messages": [{"id": "m"}]}}]}]})
    assert (ignored.status_code, ignored.json()) == (200, {"received": True})
    assert calls_of(tenant) == [] and wa.graph.requests == []
