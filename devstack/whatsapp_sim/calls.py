"""One simulated WhatsApp call: who, which way, where it stands, and everything that happened to it."""
from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from devstack.carrier_sim.scripts import Step
from devstack.whatsapp_sim.registry import Number

if TYPE_CHECKING:
    from devstack.whatsapp_sim.user_peer import UserPeer

Direction = Literal["USER_INITIATED", "BUSINESS_INITIATED"]
Status = Literal["ringing", "connecting", "in_progress", "completed", "rejected", "failed"]
ENDED: frozenset[str] = frozenset({"completed", "rejected", "failed"})


def new_call_id() -> str:
    return "wacid." + secrets.token_urlsafe(30)


@dataclass
class SimCall:
    direction: Direction
    number: Number
    user_wa_id: str
    script: tuple[Step, ...]
    user_name: str | None = None
    biz_opaque_callback_data: str | None = None
    id: str = field(default_factory=new_call_id)
    status: Status = "ringing"
    created_at: float = field(default_factory=time.time)
    accepted_at: float | None = None
    ended_at: float | None = None
    ended_by: str | None = None  # user | business | timeout | sim
    terminate_status: str | None = None  # what the terminate webhook said
    error: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    peer: UserPeer | None = None
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    webhook_order: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def is_over(self) -> bool:
        return self.status in ENDED

    def record(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def graph_event(self, action: str, status_code: int, error: str | None = None) -> None:
        event: dict[str, Any] = {"at": round(time.time(), 3), "kind": "graph", "action": action,
                                 "status_code": status_code}
        if error:
            event["error"] = error
        self.events.append(event)

    def to_json(self) -> dict[str, Any]:
        audio = self.peer.listener if self.peer is not None else None
        return {
            "id": self.id, "direction": self.direction, "status": self.status,
            "phone_number_id": self.number.phone_number_id, "business_number": self.number.digits,
            "user_wa_id": self.user_wa_id, "user_name": self.user_name,
            "biz_opaque_callback_data": self.biz_opaque_callback_data,
            "created_at": self.created_at, "accepted_at": self.accepted_at, "ended_at": self.ended_at,
            "ended_by": self.ended_by, "terminate_status": self.terminate_status, "error": self.error,
            "media_state": self.peer.pc.connectionState if self.peer is not None else None,
            "events": list(self.events),
            "script": [step.to_json() for step in self.script], "steps": list(self.steps),
            "agent_audio_ms": audio.audio_ms if audio is not None else 0,
            "agent_speech_ms": audio.speech_ms if audio is not None else 0,
            "agent_speech_segments": audio.segments_json() if audio is not None else [],
        }
