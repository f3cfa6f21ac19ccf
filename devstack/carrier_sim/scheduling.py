"""The Twilio stand-in's clockwork: one scheduler thread for every call's life, and per-call lanes that
deliver each call's callbacks in order on a shared pool (callbacks of different calls in parallel)."""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger("parley.carrier_sim")


class Scheduler:
    """Runs callables at due times on a single worker thread (a heap guarded by a condition)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._cv = threading.Condition()
        self._counter = itertools.count()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="carrier-sim-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` after ``delay`` seconds (0: as soon as possible, after earlier due work)."""
        with self._cv:
            heapq.heappush(self._heap, (time.monotonic() + max(0.0, delay), next(self._counter), fn))
            self._cv.notify()

    def clear(self) -> None:
        """Drop everything not yet run."""
        with self._cv:
            self._heap.clear()

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            self._heap.clear()
            self._cv.notify()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _next_due(self) -> Callable[[], None] | None:
        """Wait for the next due callable; None once stopped."""
        with self._cv:
            while not self._stopped:
                if self._heap:
                    wait = self._heap[0][0] - time.monotonic()
                    if wait <= 0:
                        return heapq.heappop(self._heap)[2]
                    self._cv.wait(wait)
                else:
                    self._cv.wait()
            return None

    def _run(self) -> None:
        while (fn := self._next_due()) is not None:
            try:
                fn()
            except Exception:
                log.exception("carrier simulator step failed")


class Lane:
    """A per-call FIFO of network tasks, so one call's callbacks go out in order."""

    def __init__(self) -> None:
        self.tasks: deque[Callable[[], None]] = deque()
        self.busy = False


class LaneRunner:
    """Runs each lane's tasks one after another on a shared pool; different lanes run in parallel."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self._pool = pool
        self._lock = threading.Lock()

    def submit(self, lane: Lane, task: Callable[[], None]) -> None:
        with self._lock:
            lane.tasks.append(task)
            if lane.busy:
                return
            lane.busy = True
        try:
            self._pool.submit(self._drain, lane)
        except RuntimeError:  # the pool is shut down: the simulator is stopping
            with self._lock:
                lane.busy = False
                lane.tasks.clear()

    def _drain(self, lane: Lane) -> None:
        while True:
            with self._lock:
                if not lane.tasks:
                    lane.busy = False
                    return
                task = lane.tasks.popleft()
            try:
                task()
            except Exception:
                log.exception("carrier simulator delivery task failed")
