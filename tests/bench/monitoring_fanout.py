"""Benchmark `monitoring fan-out`: 100 concurrent calls' events to 2 watchers each, for 60 s.

``python -m tests.bench.monitoring_fanout [--calls 100] [--watchers 2] [--seconds 60] [--rate 5]`` (``make bench``).

The local stack runs without voice (API, embedded AWS, the API Gateway WebSocket stand-in). This process
plays one streaming task: the real publisher (``streaming.monitoring``) and one ``CallFeed`` per call,
emitting ``--rate`` events per second per call (partials, finals and turn metrics, as a talking call does),
all sent through the management API to watchers that connected with the API key and subscribed to
everything through the app's own WebSocket handlers. The watchers run in a child process (so their CPU is
not counted as the publisher's). Printed: events published and delivered, lost or reordered per call
(``seq`` checked), posts made (batching), and the publisher's CPU per event. No voice pipeline runs: 100
spoken calls do not fit on two cores; this measures what monitoring adds to a task.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _watch(url: str, api_key: str, seconds: float, out: str, ready: Any) -> None:
    from devstack.monitor_client import MonitorClient

    client = MonitorClient(url, api_key=api_key)
    client.send({"action": "subscribe"})
    client.wait_for(lambda e: e["type"] == "snapshot", timeout=30)
    ready.set()
    time.sleep(seconds)
    last = -1
    while len(client.events) != last:  # until nothing more arrives
        last = len(client.events)
        time.sleep(2.0)
    seqs: dict[str, list[int]] = {}
    for event in client.events:
        if event.get("call_id") is not None:
            seqs.setdefault(str(event["call_id"]), []).append(event["seq"])
    Path(out).write_text(json.dumps({"messages": client.messages, "seqs": seqs}))
    client.close()


async def _publish(calls: int, seconds: float, rate: float) -> dict[str, Any]:
    from chalicelib.monitoring import sender
    from streaming.monitoring.call_feed import CallFeed
    from streaming.monitoring.publisher import MonitorPublisher

    publisher = MonitorPublisher(sender.management_client(), threads=4)
    feeds = [CallFeed(publisher, int(os.environ["BENCH_ACCOUNT"]), 10_000 + n, None) for n in range(calls)]
    for feed in feeds:
        feed.in_progress()
    interval = 1.0 / (rate * calls)
    cpu0, wall0 = time.process_time(), time.monotonic()
    n = 0
    while time.monotonic() - wall0 < seconds:
        feed = feeds[n % calls]
        turn = n // calls
        kind = turn % 5
        if kind == 4:
            feed.on_live_event({"type": "turn_metrics", "turn": turn,
                                "metrics": {"turn": turn, "first_audio_out_ms": 700.0}})
        else:
            feed.on_live_event({"type": "caption", "role": "user" if kind < 2 else "assistant",
                                "text": "words " * (8 + kind), "final": kind in (1, 3), "turn": turn})
        n += 1
        await asyncio.sleep(max(0.0, wall0 + n * interval - time.monotonic()))
    for feed in feeds:
        feed.ended("completed", "caller")
    while not publisher.idle:
        await asyncio.sleep(0.05)
    cpu = time.process_time() - cpu0
    await publisher.close()
    return {"published": publisher.counters["events"], "posts": publisher.counters["posts"], "cpu_s": cpu,
            "post_errors": publisher.counters["post_errors"], "seq_last": {f.call_id: f.seq for f in feeds},
            "replayed": publisher.counters["replayed"]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--watchers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=5.0, help="events per second per call")
    args = parser.parse_args()
    from devstack.launch import local_stack

    with tempfile.TemporaryDirectory() as workdir, \
            local_stack(Path(workdir), {"PARLEY_DEV_VOICE": "0", "PARLEY_TELEPHONY": "none"}) as stack:
        monitor = stack["monitor_url"]
        os.environ.update({"AWS_ENDPOINT_URL": stack["aws_endpoint_url"], "PARLEY_TABLE_PREFIX": stack["table_prefix"],
                           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench",
                           "AWS_SECRET_ACCESS_KEY": "bench", "BENCH_ACCOUNT": str(stack["account_id"]),
                           "PARLEY_MONITOR_MANAGEMENT_URL": monitor.replace("ws://", "http://").rstrip("/")})
        context = multiprocessing.get_context("spawn")
        outs, children = [], []
        for index in range(args.watchers):
            ready = context.Event()
            out = str(Path(workdir) / f"watcher{index}.json")
            child = context.Process(target=_watch, args=(monitor, stack["api_key"], args.seconds + 5, out, ready))
            child.start()
            if not ready.wait(60):
                print("a watcher did not connect", file=sys.stderr)
                return 1
            outs.append(out)
            children.append(child)
        result = asyncio.run(_publish(args.calls, args.seconds, args.rate))
        for child in children:
            child.join(timeout=args.seconds + 120)
        lost = reordered = delivered = messages = 0
        for out in outs:
            got = json.loads(Path(out).read_text())
            messages += got["messages"]
            for call_id, last in result["seq_last"].items():
                seqs = got["seqs"].get(str(call_id), [])
                delivered += len(seqs)
                reordered += sum(1 for a, b in zip(seqs, seqs[1:], strict=False) if b <= a)
                lost += len(set(range(3, last + 1)) - set(seqs))
    published = result["published"]
    print(f"monitoring fan-out: {args.calls} calls x {args.watchers} watchers, {args.seconds:.0f} s, "
          f"{args.rate:g} events/s per call")
    print(f"  events published        {published} ({published / args.seconds:.0f}/s)")
    print(f"  deliveries              {delivered} (expected {published * args.watchers}), "
          f"lost {lost}, reordered {reordered}")
    print(f"  posts to the API        {result['posts']} ({result['posts'] / max(1, published * args.watchers):.2f} "
          f"per delivery; messages received {messages}), post errors {result['post_errors']}")
    print(f"  publisher CPU           {1e6 * result['cpu_s'] / max(1, published):.0f} us per event "
          f"({100 * result['cpu_s'] / args.seconds:.1f}% of a core)")
    print(f"  max RSS (bench process) {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0 if lost == 0 and reordered == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
