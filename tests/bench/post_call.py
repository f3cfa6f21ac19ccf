"""Post-call delivery benchmark on the local stack's embedded AWS (moto server in its own process).

1. One delivery worker (one Lambda-equivalent consumer of the deliveries queue, batches of 10 sent
   concurrently) sending to a local webhook receiver: webhooks per second.
2. Call end -> webhook received: calls dispatched through the local stack (carrier simulator, no voice)
   end, ``call.completed`` goes on the bus, the rule routes it to SQS, the fan-out and delivery workers
   run, the receiver gets the signed webhook: latency from the call's recorded end to receipt.

Run: ``python -m tests.bench.post_call`` (part of ``make bench``).
"""
from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime

from tests.bench.streaming_stack import bench_stack
from tests.post_call.receivers import Receiver, serve


def worker_throughput(deliveries: int) -> dict[str, float]:
    from chalicelib import queues, workers
    from chalicelib.delivery import fanout, sender
    from chalicelib.delivery.contract import DeliverySettings
    from chalicelib.delivery.safe_http import SafeHttp
    from devstack.runner import LocalRunner, QueueConsumer
    from tests.post_call.pipeline import add_action, completed_event, make_agent, wait_until

    make_agent(1, 1)
    with serve(Receiver()) as receiver:
        add_action(1, 1, type="webhook", url=receiver.url)
        batch = fanout.FanOut()
        for n in range(deliveries):
            batch.add({"detail-type": "call.completed", "detail": completed_event(100_000 + n)})
        batch.flush()
        settings = DeliverySettings(allowed_networks=("127.0.0.0/8",))
        import boto3

        runtime = sender.Runtime(settings=settings, http=SafeHttp(allowed_networks=settings.allowed_networks),
                                 ses=boto3.client("ses"))
        runner = LocalRunner(consumers=[QueueConsumer(
            queues.DELIVERIES, lambda event, _ctx: workers.delivery_batch(event, runtime=runtime), batch_size=10, workers=4)])
        print(f"{deliveries} deliveries queued; sending", flush=True)
        started = time.perf_counter()
        runner.start()
        try:
            wait_until(lambda: len(receiver.received) >= deliveries, 600, every_s=0.05)
            elapsed = time.perf_counter() - started
        finally:
            runner.stop()
        return {"deliveries": deliveries, "seconds": elapsed, "per_second": len(receiver.received) / elapsed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deliveries", type=int, default=2000)
    args = parser.parse_args(argv)
    from chalicelib.secrets_box import LocalSecretBox

    with bench_stack("bench-postcall", "bench-secret", env={"PARLEY_LOCAL_SECRET_KEY": LocalSecretBox.generate_key()}):
        from chalicelib import call_events, queues
        from chalicelib.delivery.local_setup import verify_sender

        call_events.create_routes(queues.create_all())
        verify_sender()
        figures = worker_throughput(args.deliveries)
        print(f"one delivery worker: {figures['deliveries']} webhooks in {figures['seconds']:.1f} s = "
              f"{figures['per_second']:.0f} webhooks/s (target >= 200)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
