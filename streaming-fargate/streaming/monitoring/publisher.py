"""Delivers a task's call events to the watchers that follow them, in order, batched, without loss.

- Watchers: per account, loaded from the connections table when the account's first event comes, again
  when the monitoring API rings (a watcher subscribed) and every ``reload_s``.
- Order: one post in flight per watcher, and at most one post per ``min_interval_s`` (50 ms) to it; what
  arrives meanwhile goes out together in the next post (``chalicelib.monitoring.sender`` makes it one JSON
  array). A quiet call's event goes out at once (one post per event and watcher); a busy task makes at most
  20 posts a second per watcher however many events it has: its posts grow with its watchers, not its
  events. (A post costs ~1 ms of CPU in boto3, signing included: posting every event of 100 talking calls
  to 2 watchers would take most of a core.)
- No loss: the last ``replay_s`` of each call's events are kept. A watcher seen for the first time (or
  subscribed again) gets those published after its subscription (minus a margin) before anything new; the
  client drops what it already has by ``seq`` (its snapshot was read after the subscription was stored).
- Posts run on a small thread pool (boto3 blocks); failures other than a gone connection are retried.
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from chalicelib.monitoring import sender
from chalicelib.monitoring.watchers import Watcher, watchers_of

log = logging.getLogger("parley.streaming.monitoring")
Event = dict[str, Any]
REPLAY_MARGIN_S = 5.0  # a snapshot may lag a call's newest lines by this much (the mirror is written behind)
POST_ATTEMPTS = 3


@dataclass
class _Account:
    watchers: dict[str, Watcher] = field(default_factory=dict)
    loaded_at: float = 0.0
    loading: bool = False
    again: bool = False  # rung while loading: load once more after


class MonitorPublisher:
    def __init__(self, client: Any, *, threads: int = 4, replay_s: float = 30.0, reload_s: float = 60.0,
                 min_interval_s: float = 0.05,
                 load: Callable[[int], list[Watcher]] = watchers_of,
                 post: Callable[[Any, str, list[Event]], bool] = sender.post) -> None:
        self._client = client
        self._load = load
        self._post = post
        self.replay_s = replay_s
        self.reload_s = reload_s
        self.min_interval_s = min_interval_s
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="monitor-post")
        self._accounts: dict[int, _Account] = {}
        self._recent: dict[tuple[int, int], deque[tuple[float, Event]]] = {}
        self._outbox: dict[str, list[Event]] = {}
        self._in_flight: set[str] = set()
        self._last_post: dict[str, float] = {}  # connection -> loop time of its last post
        self._scheduled: set[str] = set()  # connections with a flush timer pending
        self._tasks: set[asyncio.Future[Any]] = set()
        self.counters: Counter[str] = Counter()

    # ---------------------------------------------------------------- publishing (event loop thread)

    def publish(self, account_id: int, event: Event) -> None:
        now = time.time()
        recent = self._recent.setdefault((account_id, event["call_id"]), deque())
        recent.append((now, event))
        while recent and recent[0][0] < now - self.replay_s:
            recent.popleft()
        self.counters["events"] += 1
        if self.counters["events"] % 1000 == 0:
            self._forget_old(now)
        account = self._accounts.get(account_id)
        if account is None or now - account.loaded_at > self.reload_s:
            self.ring(account_id)
        if account is None or not account.loaded_at:
            return  # sent by the replay once the watchers are loaded
        for watcher in account.watchers.values():
            if watcher.subscription.wants(event):
                self._queue(watcher.connection_id, [event])

    def ring_if_held(self, account_id: int) -> None:
        """The monitoring API rang for an account: reload its watchers if this task publishes for it."""
        if account_id in self._accounts:
            self.ring(account_id)

    def ring(self, account_id: int) -> None:
        """(Re)load the account's watchers (the monitoring API rang: one subscribed or left)."""
        account = self._accounts.setdefault(account_id, _Account())
        if account.loading:
            account.again = True
            return
        account.loading = True
        self._spawn(self._reload(account_id, account))

    @property
    def idle(self) -> bool:
        """Nothing waits to be posted and no post is in flight."""
        return not self._outbox and not self._in_flight and not self._scheduled

    def watchers_of(self, account_id: int) -> dict[str, Watcher] | None:
        """The account's watchers as loaded (None: not loaded yet)."""
        account = self._accounts.get(account_id)
        return dict(account.watchers) if account is not None and account.loaded_at else None

    def _forget_old(self, now: float) -> None:
        """Drop what no replay can need any more: calls quiet for ``replay_s``, accounts without such calls."""
        cutoff = now - self.replay_s
        for key in [k for k, events in self._recent.items() if not events or events[-1][0] < cutoff]:
            del self._recent[key]
        active = {account for account, _call in self._recent}
        for account_id in [a for a, acc in self._accounts.items() if a not in active and not acc.loading]:
            del self._accounts[account_id]
        loop_cutoff = asyncio.get_running_loop().time() - 60.0
        for connection_id in [c for c, at in self._last_post.items() if at < loop_cutoff]:
            del self._last_post[connection_id]

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)

    # ---------------------------------------------------------------- watchers

    async def _reload(self, account_id: int, account: _Account) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                account.again = False
                try:
                    loaded = await loop.run_in_executor(self._executor, self._load, account_id)
                except Exception:
                    log.warning("monitoring: could not load watchers", exc_info=True)
                    self.counters["load_errors"] += 1
                    await asyncio.sleep(1.0)
                    continue
                self._apply(account_id, account, loaded)
                if not account.again:
                    return
        finally:
            account.loading = False

    def _apply(self, account_id: int, account: _Account, loaded: list[Watcher]) -> None:
        previous = account.watchers if account.loaded_at else {}
        account.watchers = {w.connection_id: w for w in loaded}
        account.loaded_at = time.time()
        for watcher in loaded:
            before = previous.get(watcher.connection_id)
            if before is None or before.subscribed_at != watcher.subscribed_at:
                self._replay(account_id, watcher)

    def _replay(self, account_id: int, watcher: Watcher) -> None:
        since = watcher.subscribed_at - REPLAY_MARGIN_S
        backlog = [event for (account, _call), events in self._recent.items() if account == account_id
                   for at, event in events if at >= since and watcher.subscription.wants(event)]
        if backlog:
            self.counters["replayed"] += len(backlog)
            self._queue(watcher.connection_id, backlog)

    def _gone(self, connection_id: str) -> None:
        self.counters["gone"] += 1
        self._outbox.pop(connection_id, None)
        self._last_post.pop(connection_id, None)
        for account in self._accounts.values():
            account.watchers.pop(connection_id, None)

    # ---------------------------------------------------------------- posting

    def _queue(self, connection_id: str, events: list[Event]) -> None:
        self._outbox.setdefault(connection_id, []).extend(events)
        if connection_id not in self._in_flight:
            self._flush_when_due(connection_id)

    def _flush_when_due(self, connection_id: str) -> None:
        if connection_id in self._scheduled:
            return
        loop = asyncio.get_running_loop()
        wait = self._last_post.get(connection_id, -math.inf) + self.min_interval_s - loop.time()
        if wait <= 0:
            self._flush(connection_id)
            return
        self._scheduled.add(connection_id)

        def due() -> None:
            self._scheduled.discard(connection_id)
            if connection_id not in self._in_flight:
                self._flush(connection_id)
        loop.call_later(wait, due)

    def _flush(self, connection_id: str, attempt: int = 1) -> None:
        batch = self._outbox.pop(connection_id, None)
        if not batch:
            return
        self._last_post[connection_id] = asyncio.get_running_loop().time()
        self._in_flight.add(connection_id)
        self.counters["posts"] += 1
        future = asyncio.get_running_loop().run_in_executor(self._executor, self._post, self._client,
                                                              connection_id, batch)
        future.add_done_callback(lambda done: self._posted(connection_id, batch, attempt, done))

    def _posted(self, connection_id: str, batch: list[Event], attempt: int, done: asyncio.Future[bool]) -> None:
        self._in_flight.discard(connection_id)
        error = done.exception() if not done.cancelled() else None
        if done.cancelled():
            return
        if error is not None:
            self.counters["post_errors"] += 1
            if attempt < POST_ATTEMPTS:
                log.warning("monitoring: a post failed; retrying", exc_info=error)
                self._outbox[connection_id] = batch + self._outbox.get(connection_id, [])
                self._spawn(self._retry(connection_id, attempt + 1))
                return
            log.error("monitoring: events dropped after %d attempts", attempt, exc_info=error)
            self.counters["dropped"] += len(batch)
        elif done.result() is False:
            self._gone(connection_id)
            return
        if self._outbox.get(connection_id):
            self._flush_when_due(connection_id)

    async def _retry(self, connection_id: str, attempt: int) -> None:
        self._in_flight.add(connection_id)
        await asyncio.sleep(0.2 * attempt)
        self._in_flight.discard(connection_id)
        self._flush(connection_id, attempt)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
