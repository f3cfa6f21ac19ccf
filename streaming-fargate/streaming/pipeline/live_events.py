"""A call's live events, as they happen: captions of both roles, the call's state, barge-ins.

The session emits; listeners receive plain JSON objects (the shapes of ``docs/web-calls.md``): the web
transport forwards them on its data channel, live monitoring publishes them. A listener that fails is
logged and dropped, never allowed to stop the conversation.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

log = logging.getLogger("parley.streaming.events")
Listener = Callable[[dict[str, Any]], None]
CallState = Literal["listening", "agent_speaking", "ended"]


class LiveEvents:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self.state: CallState = "listening"

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def emit(self, event: dict[str, Any]) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("a live-event listener failed; it is dropped")
                self._listeners.remove(listener)

    def caption(self, role: Literal["user", "assistant"], text: str, *, final: bool, turn: int,
                interrupted: bool = False, source: str = "speech") -> None:
        event: dict[str, Any] = {"type": "caption", "role": role, "text": text, "final": final, "turn": turn}
        if final and role == "assistant":
            event["interrupted"] = interrupted
        if source != "speech":
            event["source"] = source
        self.emit(event)

    def turn_metrics(self, metrics: dict[str, Any]) -> None:
        """A caller turn's latency breakdown, once the agent's reply to it starts playing."""
        self.emit({"type": "turn_metrics", "turn": metrics["turn"], "metrics": metrics})

    def set_state(self, state: CallState, reason: str | None = None) -> None:
        if state == self.state and reason is None:
            return
        self.state = state
        event: dict[str, Any] = {"type": "state", "state": state}
        if reason is not None:
            event["reason"] = reason
        self.emit(event)

    def barge_in(self, latency_ms: float) -> None:
        self.emit({"type": "barge_in", "latency_ms": latency_ms})
