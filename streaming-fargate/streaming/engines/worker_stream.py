"""A blocking generator on a worker thread, consumed as an async iterator (the local LLM's replies).

The producer runs on ``executor`` (one thread: llama.cpp contexts are not thread-safe) and hands each item to the
event loop through an :class:`asyncio.Queue`; closing the async iterator sets the ``cancel`` event the producer
checks between items, so an interrupted reply frees the thread within one item. An exception in the producer is
raised in the consumer.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

_END = object()


async def on_worker(executor: concurrent.futures.Executor,
                    produce: Callable[[threading.Event], Iterator[Any]]) -> AsyncIterator[Any]:
    """Run ``produce(cancel)`` on ``executor`` and yield what it yields, in order."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()
    cancel = threading.Event()

    def put(item: object) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    def work() -> None:
        try:
            for item in produce(cancel):
                put(item)
                if cancel.is_set():
                    return
        except BaseException as exc:  # handed to the consumer
            put(exc)
        finally:
            put(_END)

    executor.submit(work)
    try:
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        cancel.set()
