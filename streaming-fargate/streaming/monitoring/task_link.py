"""The task's own connection to the monitoring API: how watcher changes and supervisor controls reach it.

The task connects like any client, with ``?task_token=`` (signed with the service secret; see
``chalicelib.monitoring.tokens``), so the monitoring API stores the connection with the task's id and can
post notes to it: ``{"type": "watchers", "account_id"}`` and ``{"type": "control", ...}``. API Gateway
closes idle connections after 10 minutes and every connection after 2 hours: the link pings every few
minutes, renews itself before the 2 hours, and reconnects with backoff whenever it drops.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from chalicelib.monitoring.tokens import issue_task_token

log = logging.getLogger("parley.streaming.monitoring")
PING_EVERY_S = 240.0
RENEW_AFTER_S = 110 * 60.0  # API Gateway's limit is 2 hours
Note = dict[str, Any]


class TaskLink:
    def __init__(self, url: str, secret: str, task_id: str, on_note: Callable[[Note], None],
                 on_connected: Callable[[], None] | None = None) -> None:
        self.url = url
        self.secret = secret
        self.task_id = task_id
        self.on_note = on_note
        self.on_connected = on_connected
        self.connected = asyncio.Event()
        self.connects = 0
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="monitor-task-link")

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        backoff = 0.5
        async with aiohttp.ClientSession() as session:
            while not self._closing:
                try:
                    await self._connect_once(session)
                    backoff = 0.5
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    log.warning("monitoring: task link failed (%s); reconnecting", type(error).__name__)
                self.connected.clear()
                if not self._closing:
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)

    async def _connect_once(self, session: aiohttp.ClientSession) -> None:
        token = issue_task_token(self.secret, self.task_id)
        separator = "&" if "?" in self.url else "?"
        async with session.ws_connect(f"{self.url}{separator}task_token={token}", autoping=True) as ws:
            self.connects += 1
            self.connected.set()
            log.info("monitoring: task link connected")
            if self.on_connected is not None:
                self.on_connected()
            opened = time.monotonic()
            while time.monotonic() - opened < RENEW_AFTER_S:
                try:
                    message = await ws.receive(timeout=PING_EVERY_S)
                except TimeoutError:
                    await ws.send_str('{"action": "ping"}')
                    continue
                if message.type == aiohttp.WSMsgType.TEXT:
                    self._deliver(message.data)
                elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    return

    def _deliver(self, text: str) -> None:
        try:
            data = json.loads(text)
        except ValueError:
            log.warning("monitoring: a note that is not JSON was ignored")
            return
        for note in data if isinstance(data, list) else [data]:
            if isinstance(note, dict):
                try:
                    self.on_note(note)
                except Exception:
                    log.exception("monitoring: a note could not be handled")
