"""Bad input gets a 4xx JSON error that names the field, and writes nothing."""
from __future__ import annotations

import pytest

from tests.conftest import AGENT, TWILIO_SID, Tenant


def _error(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"error", "error_description"}
    if field is not None:
        assert body.get("field") == field, body
        assert field in body["error_description"]
    return body


def test_malformed_json_is_400(tenant: Tenant) -> None:
    response = tenant.session.post(tenant.url("agents/create"), data="{nope",
                                   headers={"Content-Type": "application/json"})
    assert _error(response, 400)["error"] == "invalid_json"


def test_empty_body_is_400(tenant: Tenant) -> None:
    response = tenant.session.post(tenant.url("agents/create"), data="", headers={"Content-Type": "application/json"})
    _error(response, 400)


def test_body_must_be_an_object(tenant: Tenant) -> None:
    _error(tenant.post("agents/create", json=[1, 2]), 422, "body")


@pytest.mark.parametrize("body,field", [
    ({"context_breakdown": AGENT["context_breakdown"]}, "name"),
    ({**AGENT, "name": 7}, "name"),
    ({**AGENT, "context_breakdown": []}, "context_breakdown"),
    ({**AGENT, "context_breakdown": [{"title": "x"}]}, "context_breakdown.0.body"),
    ({**AGENT, "transcriber": {"silence_timeout": 300}}, "transcriber.silence_timeout"),
    ({**AGENT, "timezone": "Mars/Olympus"}, "timezone"),
    ({**AGENT, "call_type": "Sideways"}, "call_type"),
    ({**AGENT, "unknown_field": 1}, "unknown_field"),
])
def test_agent_fields_are_validated(tenant: Tenant, body: dict, field: str) -> None:
    _error(tenant.post("agents/create", json=body), 422, field)
    assert tenant.get("agents").json()["total_records"] == 0


def test_oversize_body_is_413(tenant: Tenant) -> None:
    body = {**AGENT, "welcome_message": "x" * 300_000}
    _error(tenant.post("agents/create", json=body), 413)


def test_non_integer_path_id_is_422(tenant: Tenant) -> None:
    _error(tenant.get("agents/abc"), 422, "agent_id")
    _error(tenant.get("calls/logs/0"), 422, "call_log_id")


def test_bad_paging_is_422(tenant: Tenant) -> None:
    _error(tenant.get("agents", params={"pagesize": 1000}), 422, "pagesize")
    _error(tenant.get("calls/logs", params={"call_status": "exploded"}), 422, "call_status")


def test_dispatch_validates_number_and_agent(tenant: Tenant, other_tenant: Tenant) -> None:
    agent_id = tenant.post("agents/create", json=AGENT).json()["id"]
    _error(tenant.post("calls/dispatch", json={"agent_id": agent_id, "to_number": "4155550123"}), 422, "to_number")
    _error(tenant.post("calls/dispatch", json={"agent_id": "1", "to_number": "+14155550123"}), 422, "agent_id")
    _error(tenant.post("calls/dispatch", json={"agent_id": 999999, "to_number": "+14155550123"}), 404, "agent_id")
    no_number = {"agent_id": agent_id, "to_number": "+14155550123"}
    _error(tenant.post("calls/dispatch", json=no_number), 422, "from_number_id")
    foreign = other_tenant.post("agents/create", json=AGENT).json()["id"]
    _error(tenant.post("calls/dispatch", json={"agent_id": foreign, "to_number": "+14155550123"}), 404, "agent_id")
    assert tenant.get("calls/logs").json()["total_records"] == 0


def test_twilio_import_validates_sid_and_number(tenant: Tenant) -> None:
    good = {"phone_number": "+14155550100", "account_sid": TWILIO_SID, "account_token": "t" * 32}
    _error(tenant.post("phone_number/import/twilio", json={**good, "account_sid": "XX1"}), 422, "account_sid")
    _error(tenant.post("phone_number/import/twilio", json={**good, "phone_number": "555"}), 422, "phone_number")
    assert tenant.post("phone_number/import/twilio", json=good).status_code == 201
    _error(tenant.post("phone_number/import/twilio", json=good), 409, "phone_number")
    assert tenant.get("phone_number/list").json()["total_records"] == 1


def test_wrong_content_type_is_415_json(tenant: Tenant) -> None:
    response = tenant.session.post(tenant.url("agents/create"), data="name=x",
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert _error(response, 415)["error"] == "unsupported_media_type"


def test_wrong_method_is_405_json(tenant: Tenant) -> None:
    assert _error(tenant.patch("agents/create", json={}), 405)["error"] == "method_not_allowed"
