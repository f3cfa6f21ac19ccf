"""Live-monitoring bodies: monitor tokens and supervisor controls (docs/monitoring.md)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from chalicelib.schemas.common import Out, Strict

MAX_SAY_CHARS = 1000


class MonitorToken(Out):
    token: str = Field(description="Opens the monitoring WebSocket: <monitor_url>?token=<token>; valid 5 minutes.")
    expires_at: datetime = Field(description="After this the token no longer opens a connection.")
    expires_in: int = Field(description="Seconds the token stays valid.")
    monitor_url: str = Field(description="The monitoring WebSocket's URL.")


class Control(Strict):
    type: Literal["say", "end_call"] = Field(
        description="say: the agent speaks `text` next, never over the caller; end_call: the agent hangs up "
                    "after what it is saying.")
    text: str | None = Field(default=None, min_length=1, max_length=MAX_SAY_CHARS,
                             description="What the agent says (say only).")

    @model_validator(mode="after")
    def _text_for_say_only(self) -> Control:
        if self.type == "say" and not (self.text or "").strip():
            raise ValueError("say needs a non-blank text")
        if self.type == "end_call" and self.text is not None:
            raise ValueError("end_call takes no text")
        return self


class ControlAccepted(Out):
    call_id: int
    control: dict[str, Any] = Field(description="The control as the call's streaming task received it.")
    accepted_at: datetime
