"""Benchmark: live-status handler latency at 100 and at 100,000 contacts (``make bench``).

The handler is invoked as Lambda would invoke it (an API Gateway proxy event, authorizer already
passed), against the embedded DynamoDB holding the campaign and all its contact lines. Target:
the p50 latencies at the two sizes differ by less than 20%, since live-status is one GetItem.
"""
from __future__ import annotations

import base64
import os
import statistics
import sys
import time

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("PARLEY_TABLE_PREFIX", "parley-bench")
os.environ.setdefault("PARLEY_LOCAL_SECRET_KEY", base64.b64encode(b"b" * 32).decode())
os.environ.setdefault("PARLEY_STREAM_TOKEN_SECRET", "bench")
os.environ.pop("AWS_ENDPOINT_URL", None)

SIZES = (100, 100_000)
ROUNDS = 10
REQUESTS = 300  # per size per round; rounds alternate sizes so drift hits both equally


def _event(account_id: int, bulk_call_id: int) -> dict:
    path = f"/api/v1/bulk-call/{bulk_call_id}/live-status"
    return {
        "resource": "/api/v1/bulk-call/{bulk_call_id}/live-status", "path": path, "httpMethod": "GET",
        "headers": {"accept": "application/json"}, "multiValueHeaders": {}, "queryStringParameters": None,
        "multiValueQueryStringParameters": None, "pathParameters": {"bulk_call_id": str(bulk_call_id)},
        "stageVariables": None, "body": None, "isBase64Encoded": False,
        "requestContext": {"resourcePath": "/api/v1/bulk-call/{bulk_call_id}/live-status", "httpMethod": "GET",
                           "path": path, "stage": "api", "requestId": "bench",
                           "identity": {"sourceIp": "127.0.0.1"},
                           "authorizer": {"principalId": str(account_id)}},
    }


def _seed(size: int, bulk_call_id: int) -> None:
    from chalicelib.db.models import Campaign, CampaignLine

    key = f"1#{bulk_call_id}"
    with CampaignLine.batch_write() as writer:
        for line_id in range(1, size + 1):
            writer.save(CampaignLine(key, line_id, batch="b", to_number=f"+1415{line_id:07d}", status="queued"))
    Campaign(1, bulk_call_id, name=f"{size} contacts", agent_id=1, phone_number_id=1, status="in_progress",
             concurrent_call_limit=20, total_contacts=size, queued=size - 40, in_progress=20, completed=20,
             next_line_id=size, committed_batches={"b"}).save()


def _measure(app, bulk_call_id: int) -> list[float]:
    class Context:
        aws_request_id = "bench"
        function_name = "bench"

    event = _event(1, bulk_call_id)
    samples = []
    for _ in range(REQUESTS):
        start = time.perf_counter()
        response = app(event, Context())
        samples.append((time.perf_counter() - start) * 1000)
        assert response["statusCode"] == 200, response
    return samples


def main() -> int:
    from moto import mock_aws

    from devstack import moto_patches

    moto_patches.install()  # DynamoDB atomic under concurrency, SQS fast with deep queues
    with mock_aws():
        from devstack.local_resources import create_tables

        create_tables()
        from app import app

        results: dict[int, list[float]] = {size: [] for size in SIZES}
        for index, size in enumerate(SIZES, start=1):
            started = time.perf_counter()
            _seed(size, index)
            print(f"seeded {size:>7,} contacts in {time.perf_counter() - started:.1f} s", flush=True)
            _measure(app, index)  # warm-up
        for _ in range(ROUNDS):
            for index, size in enumerate(SIZES, start=1):
                results[size] += _measure(app, index)
        for size in SIZES:
            samples = sorted(results[size])
            p50, p95 = statistics.median(samples), samples[int(len(samples) * 0.95)]
            print(f"live-status at {size:>7,} contacts: p50 {p50:.3f} ms  p95 {p95:.3f} ms  ({len(samples)} requests)")
        small, large = (statistics.median(results[s]) for s in SIZES)
        difference = abs(large - small) / small * 100
        print(f"p50 difference: {difference:.1f}% (target < 20%) -> {'met' if difference < 20 else 'NOT met'}")
        return 0 if difference < 20 else 1


if __name__ == "__main__":
    sys.exit(main())
