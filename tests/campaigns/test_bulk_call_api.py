"""Bulk calls through the API: every SDK endpoint, validation naming row and field, all-or-nothing adds."""
from __future__ import annotations

from datetime import UTC

import pytest

from tests.conftest import Tenant


def _contacts(n: int, start: int = 0) -> list[dict]:
    return [{"phone_number": f"+1415555{start + i:04d}", "customer_name": f"c{i}"} for i in range(n)]


def _create(tenant: Tenant, setup: dict, **extra) -> dict:
    body = {"name": "Reminders", "contact_list": _contacts(5), "phone_number_id": setup["number"],
            "bot_id": setup["agent"], "save_as_draft": True, **extra}
    response = tenant.post("calls/bulk_call/create", json=body)
    assert response.status_code == 201, response.text
    return response.json()["bulk_call"]


def test_live_status_has_exactly_the_documented_shape(tenant: Tenant, setup: dict) -> None:
    bulk = _create(tenant, setup)
    live = tenant.get(f"bulk-call/{bulk['id']}/live-status").json()
    assert live == {"status": "success", "bulk_call_id": bulk["id"], "campaign_status": "draft",
                    "summary": {"total_contacts": 5, "queued": 5, "in_progress": 0, "completed": 0,
                                "failed": 0, "busy": 0, "no_answer": 0}}


def test_live_status_is_one_dynamodb_read(tenant: Tenant, setup: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from pynamodb.connection.base import Connection

    from chalicelib.db.models import ApiKey, Campaign

    bulk = _create(tenant, setup)
    calls: list[tuple[str, str]] = []
    original = Connection._make_api_call

    def counting(self, operation_name, operation_kwargs, *args, **kwargs):
        calls.append((operation_name, operation_kwargs.get("TableName", "")))
        return original(self, operation_name, operation_kwargs, *args, **kwargs)

    monkeypatch.setattr(Connection, "_make_api_call", counting)
    assert tenant.get(f"bulk-call/{bulk['id']}/live-status").status_code == 200
    handler_calls = [c for c in calls if c[1] != ApiKey.Meta.table_name]  # the authorizer's own lookup
    assert handler_calls == [("GetItem", Campaign.Meta.table_name)]


def test_invalid_contact_names_row_and_field_and_adds_nothing(tenant: Tenant, setup: dict) -> None:
    contacts = _contacts(3) + [{"phone_number": "555-0100"}]
    response = tenant.post("calls/bulk_call/create", json={
        "name": "x", "contact_list": contacts, "phone_number_id": setup["number"], "bot_id": setup["agent"]})
    assert response.status_code == 422
    assert response.json()["field"] == "contact_list.3.phone_number"
    assert tenant.get("calls/bulk_call").json()["total_records"] == 0
    bulk = _create(tenant, setup)
    bad = tenant.post(f"calls/bulk_call/{bulk['id']}/add_contacts", json={"contacts": [
        {"to_number": "+14155550100"}, {"to_number": "+1415"}]})
    assert bad.status_code == 422 and bad.json()["field"] == "contacts.1.to_number"
    too_many = tenant.post(f"calls/bulk_call/{bulk['id']}/add_contacts", json={"contacts": [
        {"to_number": "+14155550100"}] * 1001})
    assert too_many.status_code == 422 and too_many.json()["field"] == "contacts"
    assert tenant.get(f"bulk-call/{bulk['id']}/live-status").json()["summary"]["total_contacts"] == 5


def test_unknown_agent_or_number_is_refused(tenant: Tenant, other_tenant: Tenant, setup: dict) -> None:
    body = {"name": "x", "contact_list": _contacts(1), "phone_number_id": setup["number"], "bot_id": 99999}
    assert tenant.post("calls/bulk_call/create", json=body).json()["field"] == "agent_id"
    body = {**body, "bot_id": setup["agent"], "phone_number_id": 99999}
    assert tenant.post("calls/bulk_call/create", json=body).json()["field"] == "phone_number_id"
    foreign = other_tenant.post("calls/bulk_call/create", json={**body, "phone_number_id": setup["number"]})
    assert foreign.status_code == 404


def test_sip_numbers_without_a_twilio_account_are_not_dialable(tenant: Tenant, setup: dict) -> None:
    sip = tenant.post("phone_number/import/sip", json={
        "phone_number": "+442071838750", "sip_host": "sip.example.net", "sip_trunk_name": "t"}).json()
    body = {"name": "x", "contact_list": _contacts(1), "phone_number_id": sip["phone_number"]["id"],
            "bot_id": setup["agent"]}
    response = tenant.post("calls/bulk_call/create", json=body)
    assert response.status_code == 409 and "SIP" in response.json()["error_description"].upper()
    dispatch = tenant.post("calls/dispatch", json={"agent_id": setup["agent"], "to_number": "+14155550123",
                                                   "from_number_id": sip["phone_number"]["id"]})
    assert dispatch.status_code == 409


def test_add_contact_and_contacts_grow_the_counts(tenant: Tenant, setup: dict) -> None:
    bulk = _create(tenant, setup)
    one = tenant.post(f"calls/bulk_call/{bulk['id']}/add_contact",
                      json={"to_number": "+14155550199", "custom_variables": {"name": "Ada"}})
    assert one.status_code == 201 and one.json()["line_ids"] == [6]
    many = tenant.post(f"calls/bulk_call/{bulk['id']}/add_contacts", json={"contacts": [
        {"to_number": f"+1415666{i:04d}"} for i in range(10)]})
    assert many.json()["added"] == 10 and many.json()["line_ids"] == list(range(7, 17))
    large = tenant.post(f"calls/bulk_call/{bulk['id']}/add_contacts", json={"contacts": [
        {"to_number": f"+1415777{i:04d}"} for i in range(150)]})  # written first, then committed as a batch
    assert large.json()["line_ids"] == list(range(17, 167))
    summary = tenant.get(f"bulk-call/{bulk['id']}/live-status").json()["summary"]
    assert summary["total_contacts"] == summary["queued"] == 166
    lines = tenant.get(f"calls/bulk_call/{bulk['id']}/lines", params={"include_total": "true", "pagesize": 150}).json()
    assert lines["total"] == 166 and lines["next_cursor"] == "150"


def test_lines_paginate_with_a_cursor_and_filter(tenant: Tenant, setup: dict) -> None:
    bulk = _create(tenant, setup, contact_list=_contacts(12))
    first = tenant.get(f"calls/bulk_call/{bulk['id']}/lines", params={"pagesize": 5, "include_total": "true"}).json()
    assert [line["line_id"] for line in first["lines"]] == [1, 2, 3, 4, 5] and first["total"] == 12
    second = tenant.get(
        f"calls/bulk_call/{bulk['id']}/lines", params={"pagesize": 5, "cursor": first["next_cursor"]}
    ).json()
    assert [line["line_id"] for line in second["lines"]] == [6, 7, 8, 9, 10]
    assert first["lines"][0]["custom_variables"] == {"customer_name": "c0"}
    found = tenant.get(f"calls/bulk_call/{bulk['id']}/lines", params={"search": "5550011"}).json()
    assert [line["line_id"] for line in found["lines"]] == [12]
    assert tenant.get(f"calls/bulk_call/{bulk['id']}/lines", params={"pagesize": 151}).status_code == 422


def test_lifecycle_actions(tenant: Tenant, setup: dict) -> None:
    bulk = _create(tenant, setup)
    path = f"calls/bulk_call/{bulk['id']}"
    assert tenant.put(path, json={"action": "pause"}).status_code == 409  # a draft is not running
    concurrency = tenant.put(f"{path}/concurrency", json={"concurrent_call_limit": 7}).json()["bulk_call"]
    assert concurrency["concurrent_call_limit"] == 7
    window = {"enable_daily_hard_stop": True, "enable_daily_auto_start": True, "daily_stop_time": 18,
              "daily_stop_timezone": "America/New_York", "daily_start_time": 9}
    windowed = tenant.put(f"{path}/daily-time-control", json=window).json()["bulk_call"]
    assert windowed["daily_time_control"]["daily_stop_time"] == 18
    rescheduled = tenant.put(path, json={"action": "reschedule", "new_scheduled_datetime": "2030-01-01 09:00:00",
                                         "new_timezone": "Europe/London"}).json()["bulk_call"]
    assert rescheduled["campaign_status"] == "scheduled" and rescheduled["timezone"] == "Europe/London"
    assert tenant.put(path, json={"action": "reschedule"}).status_code == 422
    assert tenant.get("calls/bulk_call", params={"status": "scheduled"}).json()["total_records"] == 1
    assert tenant.delete(path).json()["bulk_call"]["campaign_status"] == "cancelled"
    assert tenant.post(f"{path}/start").status_code == 409
    assert tenant.get(path).json()["bulk_call"]["campaign_status"] == "cancelled"


def test_scheduled_campaign_starts_when_due(tenant: Tenant, setup: dict) -> None:
    from datetime import datetime

    from chalicelib.domain.campaigns import start_due

    bulk = _create(tenant, setup, save_as_draft=False, is_scheduled=True,
                   scheduled_datetime="2030-06-01 10:00:00", timezone="UTC")
    assert bulk["campaign_status"] == "scheduled"
    assert start_due(datetime(2030, 6, 1, 9, 59, tzinfo=UTC)) == []
    assert start_due(datetime(2030, 6, 1, 10, 0, tzinfo=UTC)) == [bulk["id"]]
    assert tenant.get(f"bulk-call/{bulk['id']}/live-status").json()["campaign_status"] == "in_progress"


def test_other_accounts_get_404(tenant: Tenant, other_tenant: Tenant, setup: dict) -> None:
    bulk = _create(tenant, setup)
    for method, path, body in [("get", f"bulk-call/{bulk['id']}/live-status", None),
                               ("get", f"calls/bulk_call/{bulk['id']}", None),
                               ("get", f"calls/bulk_call/{bulk['id']}/lines", None),
                               ("delete", f"calls/bulk_call/{bulk['id']}", None),
                               ("post", f"calls/bulk_call/{bulk['id']}/add_contact", {"to_number": "+14155550100"}),
                               ("post", f"calls/bulk_call/{bulk['id']}/start", None)]:
        kwargs = {"json": body} if body is not None else {}
        assert getattr(other_tenant, method)(path, **kwargs).status_code == 404, path
