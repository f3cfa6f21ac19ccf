"""A monitoring WebSocket client (docs/monitoring.md) for tests, benchmarks and a terminal:

    python -m devstack.monitor_client            # watch every call of the local stack's account

``MonitorClient`` runs its socket on a thread of its own, so blocking code (tests, the SDK) can use it:
it connects (``Refused`` carries the HTTP status when the connect is refused), sends messages, and keeps
every event it receives, with the time it arrived, for ``wait_for``.
"""
from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

Event = dict[str, Any]


class Refused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"connect refused with HTTP {status}")
        self.status = status


class MonitorClient:
    def __init__(self, url: str, *, api_key: str | None = None, token: str | None = None,
                 on_event: Callable[[Event], None] | None = None) -> None:
        self.url = url if token is None else f"{url}{'&' if '?' in url else '?'}token={token}"
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.on_event = on_event
        self.events: list[Event] = []
        self.arrivals: list[float] = []  # time.time() each event arrived
        self.messages = 0
        self.closed = threading.Event()
        self._lock = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._opened: asyncio.Future[None] | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="monitor-client", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), self._loop).result(timeout=30)

    async def _open(self) -> None:
        self._session = aiohttp.ClientSession()
        try:
            self._ws = await self._session.ws_connect(self.url, headers=self.headers, autoping=True)
        except aiohttp.WSServerHandshakeError as error:
            await self._session.close()
            raise Refused(error.status) from None
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self._ws is not None
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            now = time.time()
            with self._lock:
                self.messages += 1
                for event in data if isinstance(data, list) else [data]:
                    self.events.append(event)
                    self.arrivals.append(now)
                    if self.on_event is not None:
                        self.on_event(event)
                self._lock.notify_all()
        self.closed.set()
        with self._lock:
            self._lock.notify_all()

    def send(self, message: dict[str, Any]) -> None:
        self.send_text(json.dumps(message))

    def send_text(self, text: str) -> None:
        """One raw text frame (tests send malformed ones)."""
        assert self._ws is not None
        asyncio.run_coroutine_threadsafe(self._ws.send_str(text), self._loop).result(timeout=10)

    def wait_for(self, predicate: Callable[[Event], bool], timeout: float = 30.0, after: int = 0) -> Event:
        """The first event (from index ``after``) that satisfies ``predicate``, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for event in self.events[after:]:
                    if predicate(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0 or self.closed.is_set():
                    kinds = [e.get("type") for e in self.events[-20:]]
                    raise TimeoutError(f"no matching event in {timeout} s (closed={self.closed.is_set()}; "
                                       f"last types {kinds})")
                self._lock.wait(min(left, 0.5))

    def of_call(self, call_id: int) -> list[Event]:
        with self._lock:
            return [e for e in self.events if e.get("call_id") == call_id]

    def close(self) -> None:
        async def shut() -> None:
            if self._ws is not None:
                await self._ws.close()
            await self._session.close()
        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(shut(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> MonitorClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def main() -> int:
    stack = json.loads(Path(".dev/stack.json").read_text())
    client = MonitorClient(stack["monitor_url"], api_key=stack["api_key"],
                           on_event=lambda event: print(json.dumps(event), flush=True))
    client.send({"action": "subscribe"})
    try:
        client.closed.wait()
    except KeyboardInterrupt:
        pass
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
