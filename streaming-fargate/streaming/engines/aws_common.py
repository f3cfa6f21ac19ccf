"""Helpers shared by the boto3-based engines (Bedrock, Polly).

boto3 is blocking, so each streaming call runs in its own daemon thread that hands items to the event
loop through an :class:`asyncio.Queue` (:func:`iterate_in_thread`). Closing the async iterator cancels
the call: a :class:`CancelToken` runs the closers the thread registered, which abort the HTTP response
the thread is reading (see :func:`abort_http_body`) so the thread ends promptly instead of draining it.

A dedicated daemon thread (not the loop's default executor) is used on purpose: a thread stuck on a dead
socket can then neither starve the shared pool nor hold up ``asyncio.run`` at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

log = logging.getLogger("parley.streaming.engines")

T = TypeVar("T")


class CancelToken:
    """Set once by the consumer; the producer thread polls ``cancelled`` and registers closers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled = False
        self._callbacks: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` at cancellation, or now if already cancelled. Callbacks must not block."""
        with self._lock:
            if not self._cancelled:
                self._callbacks.append(callback)
                return
        _run_quietly(callback)

    def cancel(self) -> None:
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            _run_quietly(callback)


def _run_quietly(callback: Callable[[], None]) -> None:
    try:
        callback()
    except Exception:  # a closer failing must not mask the reason we are closing
        log.debug("cancel callback failed", exc_info=True)


_ITEM, _ERROR, _DONE = range(3)


async def iterate_in_thread(work: Callable[[CancelToken], Iterator[T]], *, thread_name: str) -> AsyncIterator[T]:
    """Run the blocking generator ``work(token)`` in a daemon thread and yield its items here.

    Exceptions raised by ``work`` are re-raised in the consumer (unless the consumer cancelled first, in
    which case they are the expected result of aborting the connection and are dropped). Leaving the
    ``async for`` early, ``aclose()`` or task cancellation cancel the token; nothing here ever blocks the
    event loop.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()
    token = CancelToken()

    def emit(kind: int, value: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
        except RuntimeError:  # the loop is closed: nobody is listening any more
            token.cancel()

    def run() -> None:
        try:
            for item in work(token):
                if token.cancelled:
                    break
                emit(_ITEM, item)
        except BaseException as exc:  # handed to the consumer and raised there
            if not token.cancelled:
                emit(_ERROR, exc)
        finally:
            emit(_DONE, None)

    thread = threading.Thread(target=run, name=thread_name, daemon=True)
    thread.start()
    try:
        while True:
            kind, value = await queue.get()
            if kind == _ITEM:
                yield value
            elif kind == _ERROR:
                raise value
            else:
                return
    finally:
        token.cancel()


def abort_http_body(body: Any) -> None:
    """Stop a blocking read of a botocore streaming body (``StreamingBody``, ``EventStream``) from another
    thread, without blocking the caller.

    ``close()`` alone is not enough: ``io.BufferedReader.close`` waits for the lock held by the blocked
    ``read`` in the worker thread. urllib3 >= 2.3 ``HTTPResponse.shutdown()`` shuts the socket down for
    reading instead, which wakes the reader with EOF; the worker then closes the body itself. Older
    urllib3: close from a throw-away thread.
    """
    raw = getattr(body, "_raw_stream", body)
    shutdown = getattr(raw, "shutdown", None)
    if callable(shutdown):
        try:
            shutdown()
            return
        except Exception:  # connection already released / not a socket-backed response
            log.debug("http body shutdown failed; closing instead", exc_info=True)
    threading.Thread(target=_run_quietly, args=(raw.close,), name="parley-aws-abort", daemon=True).start()
