"""1,000 completed calls to a receiver that fails 30% of requests (500s and timeouts): every delivery arrives,
each webhook-id's payload is the same on every attempt (exactly once after dedup), nothing in the DLQ."""
from __future__ import annotations

import time

import pytest

from tests.post_call.pipeline import (
    add_action,
    all_deliveries,
    completed_event,
    dlq_messages,
    make_agent,
    put_events,
    queues_empty,
    running,
    wait_until,
    with_settings,
)
from tests.post_call.receivers import Receiver, flaky, serve

CALLS = 1000


@pytest.mark.slow
def test_every_delivery_arrives_exactly_once_after_dedup_through_a_flaky_receiver(aws: None) -> None:
    make_agent()
    with serve(Receiver(behaviour=flaky(0.30, timeout_wait_s=0.4))) as receiver:
        add_action(1, 1, type="webhook", url=receiver.url)
        rt = with_settings(timeout_s=0.2, retry_schedule_s=(0, 0, 0, 0.5, 0.5, 1, 1, 1, 1, 1, 1))
        started = time.monotonic()
        with running(rt, delivery_workers=3):
            put_events([completed_event(10_000 + n) for n in range(CALLS)])
            # Cheap to watch (a scan of 1,000 items in the embedded DynamoDB is not): every id has arrived and
            # both queues are empty, so nothing is in flight or waiting for a retry.
            done = wait_until(lambda: len(receiver.by_webhook_id()) == CALLS and queues_empty(), 240, every_s=0.5)
        elapsed = time.monotonic() - started
        items = all_deliveries()
        assert done and all(d.status == "succeeded" for d in items), \
            {s: sum(d.status == s for d in items) for s in {d.status for d in items}}
        by_id = receiver.by_webhook_id()
    assert len(items) == CALLS and len(by_id) == CALLS
    for copies in by_id.values():
        assert len({c.body for c in copies}) == 1  # the same bytes every time: dedup by webhook-id is exact
    attempts = sum(len(d.attempts) for d in items)
    assert sum(len(c) for c in by_id.values()) == attempts  # one request per recorded attempt, none after success
    assert all(d.attempts[-1]["outcome"] == "succeeded" for d in items)
    assert attempts > CALLS  # the receiver did fail, and failures were retried
    assert dlq_messages() == []
    print(f"\n{CALLS} deliveries, {attempts} attempts in {elapsed:.1f} s")
