"""Benchmark `monitoring latency`: a final transcript line in the streaming service -> a watcher has it.

``python -m tests.bench.monitoring_latency [--calls 4]`` (``make bench``).

The whole local stack runs with voice (the carrier simulator's callers ask three questions per call; the
agent answers with the local engines). A watcher connected to the API Gateway WebSocket stand-in with the
API key follows every call. Each event's ``at`` is stamped by the streaming service when the line is final;
the watcher notes when it arrived (same machine, same clock). Printed: p50/p95/max of that delay for
``transcript.final`` (target p50 <= 100 ms) and for every event of the calls, and the supervisor-control
delay: ``POST /calls/{id}/control`` sent -> the ``control`` event applied by the task back at the watcher.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import requests

QUESTIONS = ["What time do you open tomorrow?", "Do you have sourdough bread?", "Can I order a birthday cake?"]
CALLER = "+15557659123"


def _pcts(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (f"p50 {statistics.median(ordered):6.1f} ms  p95 {p95:6.1f} ms  max {ordered[-1]:6.1f} ms  "
            f"(n={len(ordered)})")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=4)
    args = parser.parse_args()
    from omnidimension import Client

    from devstack.launch import local_stack
    from devstack.monitor_client import MonitorClient

    with tempfile.TemporaryDirectory() as workdir, local_stack(Path(workdir), {}) as stack:
        print(f"stack logs: {workdir}", flush=True)
        client = Client(stack["api_key"], base_url=stack["api_url"])
        agent = client.agent.create(
            name="Bakery", welcome_message="Hello, Parley Bakery.",
            context_breakdown=[{"title": "Role", "body": "You answer the phone for Parley Bakery, open 7 to 6."}],
        )["json"]["id"]
        number = client.phone_number.import_twilio("+15005550006", "AC" + "b1" * 16, "tok_" + "b" * 28,
                                                   name="Line")["json"]["phone_number"]["id"]
        sim = stack["carrier_sim_url"]
        script: list[dict] = [{"wait_agent": {"silence": 1.0, "timeout": 60}}]
        for question in QUESTIONS:
            script += [{"say": question}, {"wait_agent": {"silence": 1.2, "timeout": 60}}]
        script.append({"pause": 60})
        rules = requests.get(f"{sim}/sim/rules", timeout=5).json()
        requests.put(f"{sim}/sim/rules", json={**rules, "answer_delay": 0.2, "scripts": {CALLER: script}},
                     timeout=5).raise_for_status()
        finals: list[float] = []
        every: list[float] = []
        controls: list[float] = []
        with MonitorClient(stack["monitor_url"], api_key=stack["api_key"]) as watcher:
            watcher.send({"action": "subscribe"})
            watcher.wait_for(lambda e: e["type"] == "snapshot", timeout=30)
            for _ in range(args.calls):
                call_id = client.call.dispatch_call(agent, CALLER, from_number_id=number)["json"]["call_id"]
                watcher.wait_for(lambda e, c=call_id: e["call_id"] == c and e["type"] == "transcript.final"
                                 and e["role"] == "user" and e["turn"] == len(QUESTIONS), timeout=240)
                watcher.wait_for(lambda e, c=call_id: e["call_id"] == c and e["type"] == "turn.metrics"
                                 and e["turn"] == len(QUESTIONS), timeout=120)
                time.sleep(3.0)  # the answer plays out; the caller is in its pause
                for _ in range(3):
                    seen = len(watcher.events)
                    sent = time.time()
                    requests.post(f"{stack['api_url']}/calls/{call_id}/control", timeout=10,
                                  headers={"Authorization": f"Bearer {stack['api_key']}"},
                                  json={"type": "say", "text": "One moment please."}).raise_for_status()
                    watcher.wait_for(lambda e, c=call_id: e["call_id"] == c and e["type"] == "control",
                                     timeout=10, after=seen)
                    arrived = watcher.arrivals[next(i for i in range(seen, len(watcher.events))
                                                    if watcher.events[i]["type"] == "control")]
                    controls.append(1000 * (arrived - sent))
                requests.post(f"{stack['api_url']}/calls/{call_id}/control", json={"type": "end_call"}, timeout=10,
                              headers={"Authorization": f"Bearer {stack['api_key']}"}).raise_for_status()
                watcher.wait_for(lambda e, c=call_id: e["call_id"] == c and e["type"] == "call.ended", timeout=180)
            for event, arrived in zip(watcher.events, watcher.arrivals, strict=True):
                if event.get("call_id") is None or event["type"] == "call.status" and event["seq"] < 3:
                    continue  # published by the API, not the streaming service
                delay = 1000 * (arrived - datetime.fromisoformat(event["at"].replace("Z", "+00:00")).timestamp())
                every.append(delay)
                if event["type"] == "transcript.final":
                    finals.append(delay)
    print(f"monitoring latency: {args.calls} spoken calls, {len(QUESTIONS)} caller turns each")
    print(f"  transcript.final -> watcher   {_pcts(finals)}")
    print(f"  every task event -> watcher   {_pcts(every)}")
    print(f"  control POST -> control event {_pcts(controls)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
