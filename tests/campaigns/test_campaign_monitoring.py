"""A campaign watched live: campaign.progress follows the live-status counters as the dialer works, in seq
order, and its calls' statuses reach a watcher that follows only that campaign."""
from __future__ import annotations

from devstack.monitor_client import MonitorClient
from tests.conftest import Tenant
from tests.monitoring.event_schemas import check


def test_a_campaign_watcher_sees_its_progress_and_its_calls_to_the_end(tenant: Tenant, setup: dict, runner,
                                                                       gateway) -> None:
    contacts = [{"phone_number": f"+1415666{i:04d}"} for i in range(1, 7)]  # ...0001-0006: answered
    bulk_id = tenant.post("calls/bulk_call/create", json={
        "name": "watched", "contact_list": contacts, "phone_number_id": setup["number"], "bot_id": setup["agent"],
        "concurrent_call_limit": 2, "is_scheduled": True, "scheduled_datetime": "2099-01-01 09:00:00",
        "timezone": "UTC"}).json()["bulk_call"]["id"]
    with MonitorClient(gateway.url, api_key=tenant.api_key) as watcher:
        watcher.send({"action": "subscribe", "bulk_call_id": bulk_id})
        assert watcher.wait_for(lambda e: e["type"] == "snapshot", timeout=10)["calls"] == []
        assert tenant.post(f"calls/bulk_call/{bulk_id}/start").status_code == 200
        done = watcher.wait_for(lambda e: e["type"] == "campaign.progress" and e["status"] == "completed",
                                timeout=60)
        assert done["summary"] == {"total_contacts": 6, "queued": 0, "in_progress": 0, "completed": 6, "failed": 0,
                                   "busy": 0, "no_answer": 0}
        progress = [e for e in watcher.events if e["type"] == "campaign.progress"]
        # Several writers (the dialer, carrier callbacks) may cross: the newest seq carries the newest counters.
        # A seq may come twice (docs/monitoring.md, "Order, gaps and duplicates": a client drops a seq it has
        # seen); when it does, it is the same event again.
        latest = max(progress, key=lambda e: e["seq"])
        by_seq: dict[int, dict] = {}
        for event in progress:
            assert by_seq.setdefault(event["seq"], event) == event, (event, by_seq[event["seq"]])
        assert (latest["status"], latest["summary"]) == (done["status"], done["summary"])
        for event in progress:
            check(event)
            summary = event["summary"]
            assert sum(v for k, v in summary.items() if k != "total_contacts") == summary["total_contacts"]
        ended = {e["call_id"] for e in watcher.events if e["type"] == "call.ended"}
        assert len(ended) == 6
        assert all(e.get("bulk_call_id") in (bulk_id, None) for e in watcher.events)
