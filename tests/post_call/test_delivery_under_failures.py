"""1,000 completed calls to a receiver that fails 30% of requests (500s and timeouts): every delivery arrives,
each webhook-id's payload is the same on every attempt (exactly once after dedup), nothing in the DLQ.
To a receiver that always fails: every delivery gets every scheduled attempt, recorded, then the DLQ."""
from __future__ import annotations

import time

import pytest

from chalicelib.db.models import Delivery
from tests.post_call.pipeline import (
    add_action,
    all_deliveries,
    completed_event,
    dlq_depth,
    dlq_messages,
    make_agent,
    put_events,
    queues_empty,
    running,
    wait_until,
    with_settings,
)
from tests.post_call.receivers import Received, Receiver, flaky, serve

CALLS = 1000
ALWAYS_FAILING_CALLS = 250  # every attempt and DLQ record checked; the 1,000-call scale is the test above's
WAIT_S = 600  # ~45 s on an idle machine; several times that beside another test worker's voice stack


def assert_one_request_per_attempt(delivery: Delivery, arrived: list[Received]) -> None:
    """The receiver saw at most one request per recorded attempt (so nothing was sent unrecorded, or after
    a success) and at least one per attempt it answered; an attempt that timed out may never have reached
    it (a connect timeout while its listen queue was full)."""
    answered = sum(a["status_code"] is not None for a in delivery.attempts)
    assert answered <= len(arrived) <= len(delivery.attempts), (delivery.attempts, len(arrived))


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
            done = wait_until(lambda: len(receiver.by_webhook_id()) == CALLS and queues_empty(), WAIT_S, every_s=0.5)
        elapsed = time.monotonic() - started
        items = all_deliveries()
        assert done and all(d.status == "succeeded" for d in items), \
            {s: sum(d.status == s for d in items) for s in {d.status for d in items}}
        by_id = receiver.by_webhook_id()
    assert len(items) == CALLS and len(by_id) == CALLS
    for copies in by_id.values():
        assert len({c.body for c in copies}) == 1  # the same bytes every time: dedup by webhook-id is exact
    attempts = sum(len(d.attempts) for d in items)
    for delivery in items:
        assert_one_request_per_attempt(delivery, by_id[delivery.webhook_id])
    assert all(d.attempts[-1]["outcome"] == "succeeded" for d in items)
    assert attempts > CALLS  # the receiver did fail, and failures were retried
    assert dlq_messages() == []
    print(f"\n{CALLS} deliveries, {attempts} attempts in {elapsed:.1f} s")


@pytest.mark.slow
def test_to_a_receiver_that_always_fails_every_delivery_lands_in_the_dlq_with_its_attempts(aws: None) -> None:
    make_agent()
    with serve(Receiver(behaviour=flaky(1.0, timeout_wait_s=0.4))) as receiver:  # half 500s, half timeouts
        add_action(1, 1, type="webhook", url=receiver.url)
        rt = with_settings(timeout_s=0.2, retry_schedule_s=(0, 0.3))
        with running(rt, delivery_workers=3):
            put_events([completed_event(20_000 + n) for n in range(ALWAYS_FAILING_CALLS)])
            # every delivery has failed and left its queue: all attempts are made and recorded
            done = wait_until(lambda: dlq_depth() == ALWAYS_FAILING_CALLS and queues_empty(), WAIT_S, every_s=0.5)
        items = all_deliveries()
        by_id = receiver.by_webhook_id()
    assert done and len(items) == ALWAYS_FAILING_CALLS
    assert {d.status for d in items} == {"failed"}
    for delivery in items:
        assert [a["outcome"] for a in delivery.attempts] == ["retry", "retry", "failed"]
        assert all(a["status_code"] == 500 or (a["error"] or "").startswith("timeout") for a in delivery.attempts), \
            delivery.attempts
        assert_one_request_per_attempt(delivery, by_id[delivery.webhook_id])
    parked = dlq_messages()
    assert sorted(m["call_id"] for m in parked) == list(range(20_000, 20_000 + ALWAYS_FAILING_CALLS))
    assert all(m["attempts"] == 3 and m["last_error"] for m in parked)
