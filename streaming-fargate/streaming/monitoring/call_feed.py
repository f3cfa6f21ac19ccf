"""One held call's monitoring events, numbered: the session's live events (captions, barge-ins, turn
metrics) and the call's own moments (in progress, controls, ended, analysed) become the documented events
(``chalicelib.monitoring.events``) with the call's ``seq``, and go to the publisher. The final transcript
lines so far are mirrored into the call record (``Call.live``) for the snapshots of later watchers,
written behind the conversation (one write in flight, the newest state wins)."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from chalicelib.monitoring import events
from streaming.monitoring.publisher import MonitorPublisher

log = logging.getLogger("parley.streaming.monitoring")
MAX_MIRRORED_LINES = 400
Mirror = Callable[[dict[str, Any]], None]  # blocking: run in a worker thread


class CallFeed:
    def __init__(self, publisher: MonitorPublisher, account_id: int, call_id: int, bulk_call_id: int | None,
                 mirror: Mirror | None = None) -> None:
        self.publisher = publisher
        self.account_id = account_id
        self.call_id = call_id
        self.bulk_call_id = bulk_call_id
        self.seq = events.SEQ_IN_PROGRESS - 1
        self.transcript: list[dict[str, Any]] = []
        self._mirror = mirror
        self._mirror_task: asyncio.Task[None] | None = None
        self._mirror_dirty = False

    def emit(self, kind: str, **fields: Any) -> dict[str, Any]:
        self.seq += 1
        item = events.event(kind, call_id=self.call_id, bulk_call_id=self.bulk_call_id, seq=self.seq, **fields)
        self.publisher.publish(self.account_id, item)
        return item

    # ---------------------------------------------------------------- the call's moments

    def in_progress(self) -> None:
        self.seq = events.SEQ_IN_PROGRESS - 1
        self.emit("call.status", status="in_progress")
        self._mirror_soon()

    def control(self, control: dict[str, Any]) -> None:
        self.emit("control", control=control["type"], text=control.get("text"))

    def ended(self, outcome: str, reason: str) -> None:
        self.emit("call.status", status="ended", outcome=outcome, reason=reason)

    def analysed(self, outcome: str, duration_s: float | None, analysis: dict[str, Any] | None) -> None:
        self.emit("call.ended", **events.ended_fields(outcome, duration_s, analysis))

    # ---------------------------------------------------------------- the session's live events

    def on_live_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "caption":
            line = {"role": event["role"], "text": event["text"], "turn": event["turn"]}
            if not event["final"]:
                self.emit("transcript.partial", **line)
                return
            extra = {"interrupted": bool(event.get("interrupted", False))} if event["role"] == "assistant" else {}
            if event.get("source"):
                extra["source"] = event["source"]
            self.emit("transcript.final", **line, **extra)
            self._keep(line)
        elif kind == "barge_in":
            self.emit("barge_in", latency_ms=event["latency_ms"])
        elif kind == "turn_metrics":
            self.emit("turn.metrics", turn=event["turn"], metrics=event["metrics"])

    def _keep(self, line: dict[str, Any]) -> None:
        for index, kept in enumerate(self.transcript):  # a correction of the same turn replaces it
            if kept["role"] == line["role"] and kept["turn"] == line["turn"]:
                self.transcript[index] = line
                break
        else:
            self.transcript.append(line)
        self._mirror_soon()

    # ---------------------------------------------------------------- the mirror

    def _mirror_soon(self) -> None:
        if self._mirror is None:
            return
        self._mirror_dirty = True
        if self._mirror_task is None or self._mirror_task.done():
            self._mirror_task = asyncio.ensure_future(self._write_mirror())

    async def _write_mirror(self) -> None:
        assert self._mirror is not None
        while self._mirror_dirty:
            self._mirror_dirty = False
            live = {"seq": self.seq, "transcript": self.transcript[-MAX_MIRRORED_LINES:]}
            try:
                await asyncio.to_thread(self._mirror, live)
            except Exception:
                log.info("monitoring: the live transcript was not mirrored (the call may be finalized)")

    async def flush(self) -> None:
        """Wait for the mirror's last write (before the call is finalized)."""
        if self._mirror_task is not None:
            await asyncio.gather(self._mirror_task, return_exceptions=True)
