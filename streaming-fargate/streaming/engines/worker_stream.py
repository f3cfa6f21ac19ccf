"""A blocking generator on a worker thread, consumed as an async iterator (the local LLM's replies).

The producer runs on ``executor`` (one thread: llama.cpp contexts are not thread-safe) and hands each item to the
event loop through an :class:`asyncio.Queue`; closing the async iterator sets the ``cancel`` event the producer
checks between items, so an interrupted reply frees the thread within one item. An exception in the producer is
raised in the consumer.

Backpressure: the producer makes an item only while fewer than ``max_ahead`` are waiting for the consumer. A
consumer that stops pulling (a reply whose first phrase is being synthesized) therefore stops the producer after
the item it is making, and the CPU the producer would have taken goes to whoever the consumer is waiting for. A
consumer that stops pulling for ``STALL_S`` without closing the stream (abandoned, and not yet collected) is no
longer waited for: the producer runs to its end as if unbounded, so the single worker thread is never held.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

_END = object()
MAX_AHEAD = 1  # the producer makes item k+1 while the consumer handles item k, never more
STALL_S = 5.0  # a consumer that has not pulled for this long (and not closed the stream) is not waited for


async def on_worker(executor: concurrent.futures.Executor, produce: Callable[[threading.Event], Iterator[Any]],
                    max_ahead: int = MAX_AHEAD) -> AsyncIterator[Any]:
    """Run ``produce(cancel)`` on ``executor`` and yield what it yields, in order, at most ``max_ahead`` items
    ahead of the consumer."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()
    cancel = threading.Event()
    slots = threading.Semaphore(max_ahead)

    def put(item: object) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    def work() -> None:
        items = produce(cancel)
        bounded = True
        try:
            while True:
                # before making the next item; a slot is released when the consumer takes one (or leaves)
                if bounded and not slots.acquire(timeout=STALL_S):
                    bounded = False  # a consumer that neither pulls nor closes must not hold the worker
                if cancel.is_set():
                    return
                item = next(items, _END)
                if item is _END:
                    return
                put(item)
        except BaseException as exc:  # handed to the consumer
            put(exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # the producer's own clean-up (its lock, its saved state) now, on this thread
            put(_END)

    executor.submit(work)
    try:
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            slots.release()
            yield item
    finally:
        cancel.set()
        slots.release()  # a producer waiting for a slot wakes up, sees ``cancel`` and stops
