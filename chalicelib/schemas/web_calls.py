"""Web-call bodies (``POST /web-calls``, docs/web-calls.md)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, model_serializer

from chalicelib.schemas.common import Id, Out, Strict


class WebCallCreate(Strict):
    agent_id: Id = Field(description="The agent to talk to (with a public key: the key's own agent).")
    call_context: dict[str, Any] = Field(
        default_factory=dict, description="Variables for this call, e.g. {\"name\": \"Ada\"} (at most 16 KiB).")


class IceServerOut(Out):
    """An ``RTCIceServer``: ``username`` and ``credential`` only when the server needs them (TURN)."""

    urls: list[str]
    username: str | None = None
    credential: str | None = None

    @model_serializer(mode="wrap")
    def _drop_none(self, handler: Any) -> Any:
        data = handler(self)  # a browser would read a null username as the string "null"
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data


class WebCallStarted(Out):
    call_id: int
    token: str = Field(description="One-use credential for the offer; valid 60 s.")
    expires_at: datetime = Field(description="When the token stops being accepted.")
    offer_url: str = Field(description="Where the page POSTs its WebRTC offer (docs/web-calls.md, step 2).")
    ice_servers: list[IceServerOut] = Field(description="RTCIceServer entries for the page's RTCPeerConnection.")
