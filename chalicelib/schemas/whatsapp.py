"""The WhatsApp Cloud API's webhook (the ``calls`` field) as Parley reads it (docs/whatsapp-calls.md §2).

Meta adds fields over time: every model allows extra fields; only what Parley reads is typed.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.schemas.common import Out

MAX_SDP = 64 * 1024
WaId = Annotated[str, Field(min_length=1, max_length=64)]


class Meta(BaseModel):
    model_config = ConfigDict(extra="allow")


Timestamp = int | Annotated[str, Field(max_length=16)] | None
"""Meta's event time: epoch seconds, as a string in the webhook."""


class CallSession(Meta):
    sdp_type: Literal["offer", "answer"]
    sdp: Annotated[str, Field(min_length=1, max_length=MAX_SDP)]


class CallEvent(Meta):
    """One ``calls[]`` item: ``connect`` (an offer from a user, or a user's answer) or ``terminate``."""

    id: Annotated[str, Field(min_length=1, max_length=256)]
    event: Annotated[str, Field(min_length=1, max_length=32)]
    from_: WaId | None = Field(default=None, alias="from")
    to: WaId | None = None
    direction: Annotated[str, Field(max_length=32)] | None = None
    timestamp: Timestamp = None
    session: CallSession | None = None
    status: Annotated[str, Field(max_length=32)] | None = None
    duration: int | Annotated[str, Field(max_length=16)] | None = None
    start_time: int | Annotated[str, Field(max_length=32)] | None = None
    end_time: int | Annotated[str, Field(max_length=32)] | None = None


class CallStatus(Meta):
    """One ``statuses[]`` item; only ``type: "call"`` is read."""

    id: Annotated[str, Field(min_length=1, max_length=256)]
    type: Annotated[str, Field(max_length=32)] | None = None
    status: Annotated[str, Field(min_length=1, max_length=32)]
    timestamp: Timestamp = None
    recipient_id: WaId | None = None


class Profile(Meta):
    name: Annotated[str, Field(max_length=256)] | None = None


class Contact(Meta):
    profile: Profile | None = None
    wa_id: WaId | None = None


class Metadata(Meta):
    display_phone_number: Annotated[str, Field(max_length=32)] | None = None
    phone_number_id: Annotated[str, Field(pattern=r"^[0-9]{1,32}$")]


class CallsValue(Meta):
    """The ``value`` of a change whose ``field`` is ``calls``."""

    messaging_product: Annotated[str, Field(max_length=32)] | None = None
    metadata: Metadata
    contacts: list[Contact] = Field(default_factory=list, max_length=100)
    calls: list[CallEvent] = Field(default_factory=list, max_length=100)
    statuses: list[CallStatus] = Field(default_factory=list, max_length=100)

    def caller_name(self, wa_id: str | None) -> str | None:
        named = [c.profile.name for c in self.contacts if c.profile and c.profile.name and c.wa_id == wa_id]
        return named[0] if named else None


class Change(Meta):
    field: Annotated[str, Field(min_length=1, max_length=64)]
    value: dict[str, Any]


class Entry(Meta):
    id: Annotated[str, Field(max_length=64)] | None = None
    changes: list[Change] = Field(default_factory=list, max_length=100)


class WhatsAppWebhook(Meta):
    """A Cloud API webhook: ``{"object": "whatsapp_business_account", "entry": [{"changes": [...]}]}``."""

    object: Annotated[str, Field(max_length=64)] | None = None
    entry: list[Entry] = Field(max_length=100)


class WebhookVerification(BaseModel):
    """Meta's verification request of a Callback URL (``GET ...?hub.mode=subscribe&...``)."""

    model_config = ConfigDict(extra="ignore")
    hub_mode: Annotated[str, Field(max_length=32)] | None = Field(default=None, alias="hub.mode")
    hub_verify_token: Annotated[str, Field(max_length=256)] | None = Field(default=None, alias="hub.verify_token")
    hub_challenge: Annotated[str, Field(max_length=256)] | None = Field(default=None, alias="hub.challenge")


class WebhookReceived(Out):
    received: bool = True
