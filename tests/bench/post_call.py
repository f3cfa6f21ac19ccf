"""Post-call delivery benchmarks (part of ``make bench``; ``python -m tests.bench.post_call``).

1. Call end -> webhook received, on the local stack (``python -m devstack`` in a child process, no
   voice): calls dispatched with the API are answered and hung up by the carrier simulator; the call's
   end is recorded, ``call.completed`` goes on the bus, the rule routes it to SQS, the fan-out and
   delivery workers run, a local receiver gets the signed webhook. Latency = receipt time minus the
   ``ended_at`` the call recorded (same clock).
2. One delivery worker (one consumer of the deliveries queue taking batches of 10, as one Lambda
   instance does) sending to a local receiver in its own process, with the embedded AWS (moto server)
   as the state store: webhooks per second, and the worker's own CPU per webhook.
"""
from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def _count_requests(port_out: Any, count: Any) -> None:
    """A webhook receiver in a process of its own (so its CPU is not the worker's): counts 2xx answers."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            with count.get_lock():
                count.value += 1

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_out.value = server.server_address[1]
    server.serve_forever(poll_interval=0.05)


def call_end_to_webhook(calls: int) -> list[float]:
    import random

    import requests
    from omnidimension import Client

    from devstack.launch import local_stack
    from tests.post_call.pipeline import wait_until
    from tests.post_call.receivers import Receiver, serve

    with tempfile.TemporaryDirectory() as workdir, local_stack(Path(workdir), {"PARLEY_DEV_VOICE": "0"}) as stack:
        sim = stack["carrier_sim_url"]
        rules = requests.get(f"{sim}/sim/rules", timeout=5).json()
        fast_calls = {**rules, "answer_delay": 0.2, "talk_time": 0.5}
        requests.put(f"{sim}/sim/rules", json=fast_calls, timeout=5).raise_for_status()
        client = Client(stack["api_key"], base_url=stack["api_url"])
        agent = client.agent.create(name="Bench", context_breakdown=[{"title": "Role", "body": "Bench."}])["json"]["id"]
        number = client.phone_number.import_twilio(f"+1415{random.randrange(10**6, 10**7)}", "AC" + "ef" * 16,
                                                   "tok_" + "b" * 28)["json"]["phone_number"]["id"]
        with serve(Receiver()) as receiver:
            client.agent.add_post_call_action(agent, "webhook", url=receiver.url,
                                              trigger_call_statuses=["completed", "busy", "no_answer", "failed"])
            arrivals: dict[int, float] = {}
            original = receiver.behaviour

            def stamp(rcv: Receiver, request: Any) -> tuple[int, float]:
                arrivals.setdefault(request.json["call_id"], time.time())
                return original(rcv, request)

            receiver.behaviour = stamp
            for n in range(calls):
                client.call.dispatch_call(agent, f"+1415555{n:04d}", from_number_id=number)
                time.sleep(0.3)
            wait_until(lambda: len(arrivals) >= calls, 120)
            latencies = []
            for request in receiver.received:
                ended = datetime.fromisoformat(request.json["ended_at"]).timestamp()
                latencies.append(arrivals[request.json["call_id"]] - ended)
            return latencies


def worker_throughput(deliveries: int) -> dict[str, float]:
    import boto3

    from chalicelib import queues, workers
    from chalicelib.delivery import fanout, sender
    from chalicelib.delivery.contract import DeliverySettings
    from chalicelib.delivery.safe_http import SafeHttp
    from chalicelib.secrets_box import LocalSecretBox
    from devstack import local_resources
    from devstack.runner import LocalRunner, QueueConsumer
    from tests.bench.streaming_stack import bench_stack
    from tests.post_call.pipeline import add_action, completed_event, make_agent, wait_until

    port, count = multiprocessing.Value("i", 0), multiprocessing.Value("i", 0)
    receiver = multiprocessing.Process(target=_count_requests, args=(port, count), daemon=True)
    receiver.start()
    while not port.value:
        time.sleep(0.01)
    try:
        env = {"PARLEY_LOCAL_SECRET_KEY": LocalSecretBox.generate_key()}
        with bench_stack("bench-postcall", "bench-secret", env=env):
            local_resources.create_routes(local_resources.create_queues())
            local_resources.verify_sender()
            make_agent(1, 1)
            add_action(1, 1, type="webhook", url=f"http://127.0.0.1:{port.value}/hooks")
            batch = fanout.FanOut()
            for n in range(deliveries):
                batch.add({"detail-type": "call.completed", "detail": completed_event(100_000 + n)})
            batch.flush()
            settings = DeliverySettings(allowed_networks=("127.0.0.0/8",))
            runtime = sender.Runtime(settings=settings, http=SafeHttp(allowed_networks=settings.allowed_networks),
                                     ses=boto3.client("ses"))
            runner = LocalRunner(consumers=[QueueConsumer(
                queues.DELIVERIES, lambda event, _ctx: workers.delivery_batch(event, runtime=runtime), batch_size=10)])
            cpu0, started = time.process_time(), time.perf_counter()
            runner.start()
            try:
                wait_until(lambda: count.value >= deliveries, 900, every_s=0.05)
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu0
            finally:
                runner.stop()
    finally:
        receiver.terminate()
    return {"deliveries": count.value, "seconds": elapsed, "per_second": count.value / elapsed,
            "cpu_ms_per_webhook": 1000 * cpu / max(1, count.value)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--deliveries", type=int, default=2000)
    args = parser.parse_args(argv)
    latencies = sorted(call_end_to_webhook(args.calls))
    p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
    print(f"call end -> webhook received ({len(latencies)} calls, local stack): "
          f"p50 {1000 * statistics.median(latencies):.0f} ms, p95 {1000 * p95:.0f} ms, "
          f"max {1000 * latencies[-1]:.0f} ms (target p50 <= 1000 ms)", flush=True)
    figures = worker_throughput(args.deliveries)
    print(f"one delivery worker: {figures['deliveries']} webhooks in {figures['seconds']:.1f} s = "
          f"{figures['per_second']:.0f} webhooks/s end to end with the embedded AWS (target >= 200); the worker "
          f"itself spent {figures['cpu_ms_per_webhook']:.2f} ms of CPU per webhook "
          f"(= {1000 / figures['cpu_ms_per_webhook']:.0f} webhooks/s per core)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
