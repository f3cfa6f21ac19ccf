"""A blocking producer on a worker thread consumed as an async iterator: order, backpressure, cancellation."""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Iterator

import pytest

from streaming.engines.worker_stream import on_worker


class Counting:
    """A producer that counts the items it made and notes when its own clean-up ran."""

    def __init__(self, count: int = 100) -> None:
        self.count = count
        self.made = 0
        self.closed = threading.Event()

    def __call__(self, cancel: threading.Event) -> Iterator[int]:
        try:
            for index in range(self.count):
                self.made += 1
                yield index
        finally:
            self.closed.set()


async def settle() -> None:
    """Give the worker thread time to run ahead if it were allowed to (a negative check)."""
    for _ in range(20):
        await asyncio.sleep(0.005)


def test_items_arrive_in_order_and_the_stream_ends_with_the_producer() -> None:
    async def scenario() -> list[int]:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return [item async for item in on_worker(pool, Counting(5))]

    assert asyncio.run(scenario()) == [0, 1, 2, 3, 4]


def test_a_consumer_that_stops_pulling_stops_the_producer_one_item_ahead() -> None:
    async def scenario() -> None:
        producer = Counting()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            stream = on_worker(pool, producer)
            assert await anext(stream) == 0
            assert await anext(stream) == 1
            await settle()
            assert producer.made == 3  # the item being handed over, and not one more
            assert await anext(stream) == 2
            await settle()
            assert producer.made == 4
            await stream.aclose()  # type: ignore[attr-defined]  # on_worker is an async generator
            await asyncio.to_thread(producer.closed.wait, 5)
            assert producer.closed.is_set() and producer.made == 4

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_a_producer_error_is_raised_in_the_consumer() -> None:
    def failing(cancel: threading.Event) -> Iterator[int]:
        yield 1
        raise ValueError("model failed")

    async def scenario() -> list[int]:
        got: list[int] = []
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            try:
                async for item in on_worker(pool, failing):
                    got.append(item)
            except ValueError as error:
                assert str(error) == "model failed"
                return got
        raise AssertionError("the error was not raised")

    assert asyncio.run(scenario()) == [1]


def test_a_consumer_that_neither_pulls_nor_closes_does_not_hold_the_worker_forever(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from streaming.engines import worker_stream

    monkeypatch.setattr(worker_stream, "STALL_S", 0.05)

    async def scenario() -> None:
        producer = Counting(10)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            stream = on_worker(pool, producer)
            assert await anext(stream) == 0  # then the consumer forgets the stream
            await asyncio.to_thread(producer.closed.wait, 10)
            assert producer.made == 10  # the producer ran to its end: the worker is free for the next job
            assert await asyncio.get_running_loop().run_in_executor(pool, lambda: "next job") == "next job"
            await stream.aclose()  # type: ignore[attr-defined]  # on_worker is an async generator

    asyncio.run(asyncio.wait_for(scenario(), 30))
