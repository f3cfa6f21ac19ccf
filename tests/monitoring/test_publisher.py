"""The streaming task's monitoring publisher: order per watcher, batching under load, replay for new
watchers (nothing lost between a snapshot and the live stream), gone watchers dropped."""
from __future__ import annotations

import asyncio
import functools
import threading
import time
from typing import Any

import pytest

from chalicelib.monitoring import events
from chalicelib.monitoring.subscriptions import Subscription
from chalicelib.monitoring.watchers import Watcher
from streaming.monitoring.call_feed import CallFeed
from streaming.monitoring.publisher import MonitorPublisher
from tests.monitoring.event_schemas import check


class Wire:
    """Stands in for the management API: records what each connection received, can be slow or gone."""

    def __init__(self) -> None:
        self.received: dict[str, list[dict[str, Any]]] = {}
        self.posts: dict[str, int] = {}
        self.gone: set[str] = set()
        self.delay_s = 0.0
        self.lock = threading.Lock()
        self.watchers: dict[int, list[Watcher]] = {}

    def load(self, account_id: int) -> list[Watcher]:
        return list(self.watchers.get(account_id, []))

    def post(self, _client: Any, connection_id: str, batch: list[dict[str, Any]]) -> bool:
        if self.delay_s:
            time.sleep(self.delay_s)
        if connection_id in self.gone:
            return False
        with self.lock:
            self.received.setdefault(connection_id, []).extend(batch)
            self.posts[connection_id] = self.posts.get(connection_id, 0) + 1
        return True


async def until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def in_loop(scenario):
    """Run an async test scenario in its own event loop (the suite has no asyncio plugin)."""
    @functools.wraps(scenario)
    def test(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(scenario(*args, **kwargs), 30))
    return test


def watcher(connection_id: str, subscribed_at: float, **subscription: Any) -> Watcher:
    return Watcher(connection_id, Subscription(**subscription), subscribed_at)


@pytest.fixture()
def wire() -> Wire:
    return Wire()


@in_loop
async def test_each_watcher_gets_its_calls_events_in_seq_order_and_no_other_accounts(wire: Wire) -> None:
    wire.watchers = {1: [watcher("a", time.time(), all=True), watcher("b", time.time(), calls={11})],
                     2: [watcher("other", time.time(), all=True)]}
    publisher = MonitorPublisher(object(), load=wire.load, post=wire.post)
    feeds = [CallFeed(publisher, 1, call_id, None) for call_id in (11, 12)]
    for feed in feeds:
        feed.in_progress()
    for turn in range(1, 30):
        for feed in feeds:
            feed.on_live_event({"type": "caption", "role": "user", "text": f"words {turn}", "final": True,
                                "turn": turn})
    await until(lambda: len(wire.received.get("a", [])) == 60 and len(wire.received.get("b", [])) == 30)
    for connection, calls in (("a", (11, 12)), ("b", (11,))):
        got = wire.received[connection]
        for call_id in calls:
            assert [e["seq"] for e in got if e["call_id"] == call_id] == list(range(3, 33))
        for event in got:
            check(event)
    assert "other" not in wire.received
    await publisher.close()


@in_loop
async def test_events_that_pile_up_behind_a_slow_post_go_out_together(wire: Wire) -> None:
    wire.watchers = {1: [watcher("a", time.time(), all=True)]}
    wire.delay_s = 0.05
    publisher = MonitorPublisher(object(), load=wire.load, post=wire.post)
    feed = CallFeed(publisher, 1, 5, None)
    feed.in_progress()
    await until(lambda: wire.received.get("a"))
    for turn in range(200):
        feed.on_live_event({"type": "caption", "role": "user", "text": "x", "final": False, "turn": turn})
    await until(lambda: len(wire.received["a"]) == 201)
    assert wire.posts["a"] <= 5  # 201 events, a handful of posts
    assert [e["seq"] for e in wire.received["a"]] == list(range(3, 204))
    await publisher.close()


@in_loop
async def test_a_watcher_that_subscribes_later_gets_what_came_after_its_subscription(wire: Wire) -> None:
    publisher = MonitorPublisher(object(), load=wire.load, post=wire.post)
    feed = CallFeed(publisher, 1, 5, None)
    feed.in_progress()
    for turn in range(1, 4):
        feed.on_live_event({"type": "caption", "role": "user", "text": "early", "final": True, "turn": turn})
    await until(lambda: publisher.watchers_of(1) is not None)
    subscribed = time.time()
    wire.watchers = {1: [watcher("late", subscribed, all=True)]}
    feed.on_live_event({"type": "caption", "role": "user", "text": "between", "final": True, "turn": 4})
    publisher.ring(1)  # the monitoring API rings after storing the subscription
    await until(lambda: any(e.get("text") == "between" for e in wire.received.get("late", [])))
    feed.on_live_event({"type": "caption", "role": "user", "text": "after", "final": True, "turn": 5})
    await until(lambda: any(e.get("text") == "after" for e in wire.received["late"]))
    seqs = [e["seq"] for e in wire.received["late"]]
    assert seqs == sorted(seqs) and seqs[-2:] == [7, 8]
    await publisher.close()


@in_loop
async def test_a_gone_watcher_is_dropped(wire: Wire) -> None:
    wire.watchers = {1: [watcher("gone", time.time(), all=True), watcher("here", time.time(), all=True)]}
    wire.gone = {"gone"}
    publisher = MonitorPublisher(object(), load=wire.load, post=wire.post)
    feed = CallFeed(publisher, 1, 5, None)
    feed.in_progress()
    await until(lambda: publisher.counters["gone"] == 1)
    feed.ended("completed", "caller")
    await until(lambda: len(wire.received.get("here", [])) == 2)
    watchers = publisher.watchers_of(1)
    assert watchers is not None and set(watchers) == {"here"}
    await publisher.close()


def test_event_builders_fit_their_schemas() -> None:
    check(events.status_event(3, None, "queued", 1))
    check(events.status_event(3, 7, "ended", 4, outcome="busy", reason="busy"))
    check(events.ended_event(3, None, 5, outcome="no_answer", duration_s=None, analysis=None))
    check(events.error_event("invalid_message", "not JSON"))
    check(events.pong_event())


def test_every_monitoring_schema_is_a_valid_json_schema_with_its_type() -> None:
    import jsonschema

    from tests.monitoring.event_schemas import EVENTS_DIR, schema_for

    for kind in events.ALL_TYPES:
        schema = schema_for(kind)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["properties"]["type"] == {"const": kind}
    assert len(list(EVENTS_DIR.glob("monitor.*.v1.schema.json"))) == len(events.ALL_TYPES)
