"""Campaigns dialled for real in-process: SQS -> dialer -> carrier simulator -> signed callbacks."""
from __future__ import annotations

import time

import requests

from tests.conftest import Tenant


def _wait(tenant: Tenant, bulk_id: int, status: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        live = tenant.get(f"bulk-call/{bulk_id}/live-status").json()
        summary = live["summary"]
        assert sum(v for k, v in summary.items() if k != "total_contacts") == summary["total_contacts"]
        if live["campaign_status"] == status:
            return live
        assert time.monotonic() < deadline, live
        time.sleep(0.2)


def test_campaign_with_retries_dials_everyone_within_its_limit(tenant: Tenant, setup: dict, runner, carrier) -> None:
    # At the simulated carrier numbers ending 0 are busy, 9 unanswered, 8 failed; busy and unanswered
    # contacts are retried once, then counted.
    contacts = [{"phone_number": f"+1415555{i:04d}"} for i in range(1, 21)]
    created = tenant.post("calls/bulk_call/create", json={
        "name": "r", "contact_list": contacts, "phone_number_id": setup["number"], "bot_id": setup["agent"],
        "concurrent_call_limit": 3, "retry_config": {"auto_retry": True, "retry_limit": 1, "retry_delay_seconds": 0}})
    bulk_id = created.json()["bulk_call"]["id"]
    live = _wait(tenant, bulk_id, "completed")
    assert live["summary"] == {"total_contacts": 20, "queued": 0, "in_progress": 0, "completed": 14,
                               "failed": 2, "busy": 2, "no_answer": 2}
    placed = requests.get(f"{carrier.url}/sim/calls").json()["calls"]
    assert len(placed) == 24  # 20 contacts + one retry of each busy or unanswered number
    assert requests.get(f"{carrier.url}/sim/stats").json()["max_in_progress"] <= 3
    lines = tenant.get(f"calls/bulk_call/{bulk_id}/lines", params={"call_status": "busy"}).json()["lines"]
    assert [line["attempts"] for line in lines] == [2, 2]
    logs = tenant.get("calls/logs", params={"pagesize": 100}).json()
    assert logs["total_records"] == 24
    completed = [c for c in logs["call_log_data"] if c["call_status"] == "completed"]
    assert all(c["details"].get("duration_seconds") is not None for c in completed)


def test_cancel_ends_waiting_contacts_as_failed(tenant: Tenant, setup: dict, runner) -> None:
    contacts = [{"phone_number": f"+1415777{i:04d}"} for i in range(1, 31)]
    bulk_id = tenant.post("calls/bulk_call/create", json={
        "name": "c", "contact_list": contacts, "phone_number_id": setup["number"], "bot_id": setup["agent"],
        "concurrent_call_limit": 1}).json()["bulk_call"]["id"]
    time.sleep(1.0)
    assert tenant.delete(f"calls/bulk_call/{bulk_id}").status_code == 200
    deadline = time.monotonic() + 30
    while True:
        summary = tenant.get(f"bulk-call/{bulk_id}/live-status").json()["summary"]
        if summary["queued"] == 0 and summary["in_progress"] == 0:
            break
        assert time.monotonic() < deadline, summary
        time.sleep(0.2)
    cancelled = tenant.get(f"calls/bulk_call/{bulk_id}/lines", params={"pagesize": 150}).json()["lines"]
    reasons = [line["reason"] for line in cancelled if line["call_status"] == "failed"]
    assert reasons and set(reasons) == {"cancelled"}
    assert summary["completed"] + summary["failed"] + summary["busy"] + summary["no_answer"] == 30


def test_pause_stops_new_dials_and_resume_finishes(tenant: Tenant, setup: dict, runner) -> None:
    contacts = [{"phone_number": f"+1415888{i:04d}"} for i in range(1, 11)]
    bulk_id = tenant.post("calls/bulk_call/create", json={
        "name": "p", "contact_list": contacts, "phone_number_id": setup["number"], "bot_id": setup["agent"],
        "concurrent_call_limit": 1}).json()["bulk_call"]["id"]
    assert tenant.put(f"calls/bulk_call/{bulk_id}", json={"action": "pause"}).status_code == 200
    time.sleep(2.0)
    paused = tenant.get(f"bulk-call/{bulk_id}/live-status").json()["summary"]
    time.sleep(2.0)
    still = tenant.get(f"bulk-call/{bulk_id}/live-status").json()["summary"]
    assert still["queued"] == paused["queued"] > 0 and still["in_progress"] == 0
    assert tenant.put(f"calls/bulk_call/{bulk_id}", json={"action": "resume"}).status_code == 200
    live = _wait(tenant, bulk_id, "completed")
    assert live["summary"] == {"total_contacts": 10, "queued": 0, "in_progress": 0, "completed": 7,
                               "failed": 1, "busy": 1, "no_answer": 1}
