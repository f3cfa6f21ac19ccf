"""Live monitoring on the local stack (docs/monitoring.md), through the real protocols: the SDK dispatches a
real voice call; watchers connected to the API Gateway WebSocket stand-in see it from queued to its analysis,
in seq order, every event fitting its schema; another account's watcher sees none of it; supervisor controls
reach the streaming task that holds the call; bad credentials never open a socket."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest
import requests
from omnidimension import Client

from chalicelib.monitoring import tokens
from devstack.monitor_client import MonitorClient, Refused
from tests.monitoring.event_schemas import check

pytestmark = pytest.mark.slow

SECRET = "e2e-monitoring-secret"
STACK_ENV = {"PARLEY_STREAM_TOKEN_SECRET": SECRET}
TWILIO_SID = "AC" + "d4" * 16
CALLER = "+15557650001"
QUESTION = "Do you bake sourdough bread on Sundays?"
SUPERVISOR_LINE = "A supervisor is listening to this call."


def other_account(stack: dict) -> dict[str, Any]:
    """A second account in the same stack, made the way an operator makes one (python -m cli.accounts)."""
    env = {**os.environ, "AWS_ENDPOINT_URL": stack["aws_endpoint_url"], "PARLEY_TABLE_PREFIX": stack["table_prefix"]}
    out = subprocess.run([sys.executable, "-m", "cli.accounts", "create", "Other tenant"], env=env, check=True,
                         capture_output=True, text=True, timeout=60).stdout
    return json.loads(out)


def monitor_token(stack: dict, api_key: str) -> requests.Response:
    return requests.post(f"{stack['api_url']}/monitor/tokens", headers={"Authorization": f"Bearer {api_key}"},
                         timeout=10)


def control(stack: dict, call_id: int, body: dict[str, Any], api_key: str | None = None) -> requests.Response:
    return requests.post(f"{stack['api_url']}/calls/{call_id}/control", json=body, timeout=10,
                         headers={"Authorization": f"Bearer {api_key or stack['api_key']}"})


def test_connects_without_valid_credentials_are_refused_with_401(local_stack: dict) -> None:
    url = local_stack["monitor_url"]
    forged = tokens.issue_monitor_token("not-the-secret", local_stack["account_id"], "0" * 64)
    expired = tokens.issue_monitor_token(SECRET, local_stack["account_id"], "0" * 64, now=time.time() - 301)
    for credentials in ({}, {"api_key": "sk_not_a_key"}, {"token": forged}, {"token": expired},
                        {"token": "mon_garbage"}):
        with pytest.raises(Refused) as refused:
            MonitorClient(url, **credentials)
        assert refused.value.status == 401, credentials
    issued = monitor_token(local_stack, local_stack["api_key"])
    assert issued.status_code == 201, issued.text
    body = issued.json()
    assert body["monitor_url"] == url and body["expires_in"] == 300 and body["token"].startswith("mon_")
    with MonitorClient(url, token=body["token"]) as watcher:
        watcher.send({"action": "ping"})
        assert watcher.wait_for(lambda e: e["type"] == "pong", timeout=10)["seq"] == 0
        watcher.send({"action": "subscribe", "call_id": 999999})
        error = watcher.wait_for(lambda e: e["type"] == "error", timeout=10)
        assert error["error"] == "not_found"
        watcher.send({"action": "dance"})
        assert watcher.wait_for(lambda e: e.get("error") == "invalid_message", timeout=10)
        seen = len(watcher.events)
        watcher.send({"action": "ping"})  # still connected after both errors
        watcher.wait_for(lambda e: e["type"] == "pong", timeout=10, after=seen)


def test_a_watcher_follows_a_call_from_queued_to_its_analysis_and_a_supervisor_ends_it(local_stack: dict) -> None:
    stack = local_stack
    client = Client(stack["api_key"], base_url=stack["api_url"])
    agent = client.agent.create(
        name="Sourdough line", welcome_message="Hello, Parley Bakery here.",
        context_breakdown=[{"title": "Role", "body": "You answer the phone for Parley Bakery. Sourdough is baked "
                                                     "every day including Sundays."}],
        is_interruption_allowed=True)["json"]
    number = client.phone_number.import_twilio("+15005550006", TWILIO_SID, "tok_" + "m" * 28, name="Line")["json"]
    sim = stack["carrier_sim_url"]
    rules = requests.get(f"{sim}/sim/rules", timeout=5).json()
    script = [{"wait_agent": {"silence": 1.0, "timeout": 60}}, {"say": QUESTION},
              {"wait_agent": {"silence": 1.5, "timeout": 90}}, {"pause": 120}]
    requests.put(f"{sim}/sim/rules", json={**rules, "answer_delay": 0.3, "scripts": {CALLER: script}},
                 timeout=5).raise_for_status()
    other = other_account(stack)

    stranger_token = monitor_token(stack, other["api_key"]).json()["token"]
    with MonitorClient(stack["monitor_url"], api_key=stack["api_key"]) as watcher, \
            MonitorClient(stack["monitor_url"], token=stranger_token) as stranger:
        watcher.send({"action": "subscribe"})
        stranger.send({"action": "subscribe"})
        assert watcher.wait_for(lambda e: e["type"] == "snapshot", timeout=20)["calls"] == []
        stranger.wait_for(lambda e: e["type"] == "snapshot", timeout=20)

        call_id = client.call.dispatch_call(agent["id"], CALLER, from_number_id=number["phone_number"]["id"])[
            "json"]["call_id"]
        assert control(stack, call_id, {"type": "end_call"}, api_key=other["api_key"]).status_code == 404

        # Both roles' final lines arrive while the call is live.
        watcher.wait_for(lambda e: e["type"] == "transcript.final" and e["call_id"] == call_id
                         and e["role"] == "user", timeout=180)
        watcher.wait_for(lambda e: e["type"] == "transcript.final" and e["call_id"] == call_id
                         and e["role"] == "assistant" and e.get("source") is None, timeout=120)
        watcher.wait_for(lambda e: e["type"] == "turn.metrics" and e["call_id"] == call_id, timeout=60)

        # A watcher that subscribes now gets the conversation so far in its snapshot.
        with MonitorClient(stack["monitor_url"], api_key=stack["api_key"]) as late:
            late.send({"action": "subscribe", "call_id": call_id})
            [entry] = late.wait_for(lambda e: e["type"] == "snapshot", timeout=20)["calls"]
            assert entry["call_id"] == call_id and entry["status"] == "in_progress"
            assert {line["role"] for line in entry["transcript"]} == {"user", "assistant"}
            check(late.events[0])

        # Supervisor: say something, then end the call.
        wait_quiet = time.monotonic() + 60
        while time.monotonic() < wait_quiet:  # until the agent's answer has played (the caller is in its pause)
            finals = [e for e in watcher.of_call(call_id) if e["type"] == "transcript.final"
                      and e["role"] == "assistant"]
            if len(finals) >= 2:
                break
            time.sleep(0.2)
        said = control(stack, call_id, {"type": "say", "text": SUPERVISOR_LINE})
        assert said.status_code == 202, said.text
        assert said.json()["control"] == {"type": "say", "text": SUPERVISOR_LINE}
        watcher.wait_for(lambda e: e["type"] == "control" and e["call_id"] == call_id and e["control"] == "say",
                         timeout=10)
        spoken = watcher.wait_for(lambda e: e["type"] == "transcript.final" and e["call_id"] == call_id
                                  and e.get("source") == "supervisor", timeout=60)
        assert spoken["text"] == SUPERVISOR_LINE and spoken["role"] == "assistant"
        ended = control(stack, call_id, {"type": "end_call"})
        assert ended.status_code == 202, ended.text
        status = watcher.wait_for(lambda e: e["type"] == "call.status" and e["call_id"] == call_id
                                  and e["status"] == "ended", timeout=60)
        assert (status["outcome"], status["reason"]) == ("completed", "supervisor")
        analysed = watcher.wait_for(lambda e: e["type"] == "call.ended" and e["call_id"] == call_id, timeout=120)
        assert analysed["outcome"] == "completed" and analysed["duration_s"] > 0
        assert analysed["summary"] and analysed["sentiment"]

        late_control = control(stack, call_id, {"type": "say", "text": "too late"})
        assert late_control.status_code == 409 and late_control.json()["error"] == "call_not_live"

        events = watcher.of_call(call_id)
        seqs = [e["seq"] for e in events]
        assert seqs == sorted(set(seqs)), seqs  # strictly increasing: nothing reordered or repeated
        statuses = [e["status"] for e in events if e["type"] == "call.status"]
        assert statuses[0] == "queued" and statuses[-1] == "ended" and "in_progress" in statuses, statuses
        assert seqs[0] == 1 and seqs[seqs.index(next(e["seq"] for e in events if e.get("status") == "in_progress")):] \
            == list(range(3, seqs[-1] + 1)), seqs  # the task's events: contiguous from 3
        for event in events:
            check(event)
        assert not [e for e in stranger.events if e.get("call_id") == call_id]

    log = client.call.get_call_log(call_id)["json"]
    assert [c["type"] for c in log["conversation"]["controls"]] == ["say", "end_call"]
    assert any(t.get("source") == "supervisor" and t["text"] == SUPERVISOR_LINE for t in log["transcript"])
