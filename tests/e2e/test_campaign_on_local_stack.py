"""A 1,000-contact campaign on the local stack with the carrier simulator: exact counts, bounded concurrency."""
from __future__ import annotations

import time

import pytest
import requests
from omnidimension import Client

# These flows only need calls to ring, answer and hang up: no voice, no models to load.
STACK_ENV = {"PARLEY_DEV_VOICE": "0"}

pytestmark = pytest.mark.slow

CONTACTS = 1000
LIMIT = 20
SIM_TO_OURS = {"completed": "completed", "busy": "busy", "no-answer": "no_answer", "failed": "failed"}


def test_thousand_contacts_with_limit_twenty(local_stack: dict) -> None:
    sim = local_stack["carrier_sim_url"]
    from_number = "+15005550006"
    rules = requests.get(f"{sim}/sim/rules", timeout=5)
    assert rules.status_code == 200
    requests.put(f"{sim}/sim/rules", json={
        **rules.json(), "answer_delay": 0.05, "talk_time": [0.1, 0.4], "number_rules": True,
        "from_rules": {from_number: {"busy": 0.1, "no_answer": 0.1, "failed": 0.05}}}, timeout=5).raise_for_status()
    requests.post(f"{sim}/sim/reset", timeout=5)
    client = Client(local_stack["api_key"], base_url=local_stack["api_url"])
    agent = client.agent.create(name="Campaigner", context_breakdown=[{"title": "Role", "body": "Remind."}])["json"]
    number = client.phone_number.import_twilio(from_number, "AC" + "cd" * 16, "tok_" + "y" * 28)["json"]
    contacts = [{"phone_number": f"+1415{5_550_000 + i:07d}", "name": f"c{i}"} for i in range(CONTACTS)]
    created = client.bulk_call.create_bulk_calls(
        "reminders", contacts, number["phone_number"]["id"], bot_id=agent["id"],
        concurrent_call_limit=LIMIT)["json"]["bulk_call"]
    bulk_id = created["id"]

    polls, peak, deadline = 0, 0, time.monotonic() + 600
    while True:
        live = client.bulk_call.get_live_status(bulk_id)["json"]
        summary = live["summary"]
        polls += 1
        peak = max(peak, summary["in_progress"])
        assert summary["in_progress"] <= LIMIT, summary
        assert sum(v for k, v in summary.items() if k != "total_contacts") == CONTACTS, summary
        if live["campaign_status"] == "completed":
            break
        assert time.monotonic() < deadline, summary
        time.sleep(0.5)

    calls = requests.get(f"{sim}/sim/calls", timeout=30).json()
    calls = calls["calls"] if isinstance(calls, dict) else calls
    outcomes: dict[str, int] = {}
    for call in calls:
        ours = SIM_TO_OURS[call["status"]]
        outcomes[ours] = outcomes.get(ours, 0) + 1
    assert len(calls) == CONTACTS
    for status in ("completed", "busy", "no_answer", "failed"):
        assert summary[status] == outcomes.get(status, 0), (summary, outcomes)
    assert summary["queued"] == 0 and summary["in_progress"] == 0
    stats = requests.get(f"{sim}/sim/stats", timeout=5).json()
    print(f"\n1000-contact campaign: {polls} polls, peak in_progress {peak}, carrier stats {stats}")
