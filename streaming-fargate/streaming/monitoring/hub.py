"""The streaming service's monitoring: the publisher, the task link, and the calls controls may reach."""
from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.monitoring import sender
from streaming.monitoring.publisher import MonitorPublisher
from streaming.monitoring.task_link import Note, TaskLink

log = logging.getLogger("parley.streaming.monitoring")
ControlHandler = Callable[[dict[str, Any]], Awaitable[None]]


def task_identity() -> str:
    """This task's id: the ECS task's (from its metadata URI) or a fresh one for a local process."""
    metadata = os.environ.get("ECS_CONTAINER_METADATA_URI_V4", "")
    suffix = metadata.rstrip("/").rsplit("/", 1)[-1] if metadata else ""
    return f"task-{suffix[:48] or uuid.uuid4().hex[:16]}"


@dataclass
class MonitorHub:
    publisher: MonitorPublisher
    task_id: str
    link: TaskLink | None = None
    controls: dict[tuple[int, int], ControlHandler] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @classmethod
    def from_env(cls, secret: str) -> MonitorHub | None:
        """None when monitoring is not configured (no management URL)."""
        client = sender.management_client()
        if client is None:
            return None
        threads = int(os.environ.get("PARLEY_MONITOR_POST_THREADS", "4"))
        hub = cls(publisher=MonitorPublisher(client, threads=threads), task_id=task_identity())
        if sender.monitor_url() and secret:
            hub.link = TaskLink(sender.monitor_url(), secret, hub.task_id, hub.on_note, on_connected=hub.reload_all)
        return hub

    def start(self) -> None:
        if self.link is not None:
            self.link.start()

    async def close(self) -> None:
        if self.link is not None:
            await self.link.close()
        await self.publisher.close()

    def reload_all(self) -> None:
        """After (re)connecting the link: watcher changes may have been missed meanwhile."""
        for account_id in {account for account, _call in self.controls}:
            self.publisher.ring(account_id)

    def on_note(self, note: Note) -> None:
        kind = note.get("type")
        if kind == "watchers" and isinstance(note.get("account_id"), int):
            self.publisher.ring_if_held(note["account_id"])
        elif kind == "control":
            account_id, call_id = note.get("account_id"), note.get("call_id")
            handler = self.controls.get((account_id, call_id)) if isinstance(account_id, int) and isinstance(
                call_id, int) else None
            if handler is None:
                log.info("monitoring: a control for a call this task no longer holds was ignored")
                return
            task = asyncio.ensure_future(handler(note))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
