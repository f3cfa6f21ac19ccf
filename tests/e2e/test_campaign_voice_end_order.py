"""A campaign with voice on the local stack, made exactly as ``make dev`` makes it: each call is answered by the
carrier simulator's scripted caller, talks to the streaming service over a Twilio Media Stream, and ends twice
over: the stream's ``stop`` (the streaming service finalizes the conversation) and the carrier's ``completed``
status callback. Whichever comes first ends the call and feeds the campaign; both orders finish with exact
counters. The simulator's ``final_callback_delay`` rule sets the order: > 0, the callback comes that long after
the stream's stop (as real carriers do); < 0, the callback comes first and the stream stops that long after.
"""
from __future__ import annotations

import time

import pytest
import requests
from omnidimension import Client

pytestmark = pytest.mark.slow

CONTACTS = 3
LIMIT = 2
SCRIPT = [{"pause": 1.0}, {"hang_up": True}]  # the agent greets; the caller listens a second and hangs up
DONE = {"total_contacts": CONTACTS, "queued": 0, "in_progress": 0, "completed": CONTACTS, "failed": 0, "busy": 0,
        "no_answer": 0}


@pytest.fixture(scope="module")
def campaign_parts(local_stack: dict) -> dict:
    client = Client(local_stack["api_key"], base_url=local_stack["api_url"])
    agent = client.agent.create(name="Reminder line", welcome_message="Hello, this is a reminder.",
                                context_breakdown=[{"title": "Role", "body": "You remind people of visits."}])["json"]
    number = client.phone_number.import_twilio("+15005550006", "AC" + "e4" * 16, "tok_" + "w" * 28)["json"]
    return {"client": client, "agent_id": agent["id"], "number_id": number["phone_number"]["id"]}


def run_campaign(local_stack: dict, parts: dict, prefix: str, final_callback_delay: float) -> tuple[dict, list[dict]]:
    """Run a campaign of CONTACTS voiced calls; its last live status and its calls' logs."""
    sim, client = local_stack["carrier_sim_url"], parts["client"]
    rules = requests.get(f"{sim}/sim/rules", timeout=5).json()
    requests.put(f"{sim}/sim/rules", json={**rules, "answer_delay": 0.2, "script": SCRIPT,
                                           "final_callback_delay": final_callback_delay}, timeout=5).raise_for_status()
    contacts = [{"phone_number": f"{prefix}{i:02d}", "name": f"c{i}"} for i in range(1, CONTACTS + 1)]
    bulk_id = client.bulk_call.create_bulk_calls(f"order {final_callback_delay}", contacts, parts["number_id"],
                                                 bot_id=parts["agent_id"], concurrent_call_limit=LIMIT,
                                                 )["json"]["bulk_call"]["id"]
    deadline = time.monotonic() + 180
    while True:
        live = client.bulk_call.get_live_status(bulk_id)["json"]
        summary = live["summary"]
        assert sum(v for k, v in summary.items() if k != "total_contacts") == CONTACTS, summary
        assert summary["in_progress"] <= LIMIT, summary
        if live["campaign_status"] == "completed":
            break
        assert time.monotonic() < deadline, f"campaign stalled: {live}"
        time.sleep(0.3)
    headers = {"Authorization": f"Bearer {local_stack['api_key']}"}
    # Each conversation is finalized too (in the reverse order, a few seconds after the call was reported ended).
    deadline = time.monotonic() + 60
    while True:
        logs = requests.get(f"{local_stack['api_url']}/calls/logs", params={"pagesize": 100}, headers=headers,
                            timeout=10).json()["call_log_data"]
        ours = [log for log in logs if log["to_number"].startswith(prefix)]
        if len(ours) == CONTACTS and all(log["conversation"] for log in ours):
            return summary, ours
        assert time.monotonic() < deadline, ours
        time.sleep(0.5)


def test_media_stream_ends_seconds_before_the_carriers_completed_callback(local_stack: dict,
                                                                          campaign_parts: dict) -> None:
    summary, calls = run_campaign(local_stack, campaign_parts, "+1415600", final_callback_delay=5.0)
    assert summary == DONE
    for call in calls:  # ended by the streaming service (its details), not by the carrier's CallDuration
        assert call["call_status"] == "completed" and call["conversation"]["ended_by"] == "caller", call
        assert "ended_by" in call["details"] and "duration_seconds" not in call["details"], call["details"]


def test_carriers_completed_callback_comes_seconds_before_the_media_stream_ends(local_stack: dict,
                                                                                campaign_parts: dict) -> None:
    summary, calls = run_campaign(local_stack, campaign_parts, "+1415601", final_callback_delay=-3.0)
    assert summary == DONE
    for call in calls:  # ended by the carrier's callback; the conversation was finalized afterwards
        assert call["call_status"] == "completed" and call["conversation"]["ended_by"] == "caller", call
        assert "duration_seconds" in call["details"] and "ended_by" not in call["details"], call["details"]
