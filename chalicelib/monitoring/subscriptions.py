"""What a monitoring connection follows, and the messages that change it.

A subscription is ``{"all": bool, "calls": [ids], "campaigns": [ids]}``: every call of the account, some
calls, and/or the calls of some campaigns (with the campaigns' progress).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_FOLLOWED = 100  # calls plus campaigns one connection may name


@dataclass
class Subscription:
    all: bool = False
    calls: set[int] = field(default_factory=set)
    campaigns: set[int] = field(default_factory=set)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Subscription:
        data = data or {}
        return cls(all=bool(data.get("all")), calls={int(c) for c in data.get("calls") or []},
                   campaigns={int(c) for c in data.get("campaigns") or []})

    def to_json(self) -> dict[str, Any]:
        return {"all": self.all, "calls": sorted(self.calls), "campaigns": sorted(self.campaigns)}

    @property
    def empty(self) -> bool:
        return not (self.all or self.calls or self.campaigns)

    def follows_call(self, call_id: int | None, bulk_call_id: int | None) -> bool:
        return self.all or (call_id in self.calls) or (bulk_call_id is not None and bulk_call_id in self.campaigns)

    def wants(self, event: dict[str, Any]) -> bool:
        """Whether an event (docs/monitoring.md) goes to this connection."""
        if event["type"] == "campaign.progress":
            return self.all or event.get("bulk_call_id") in self.campaigns
        return self.follows_call(event.get("call_id"), event.get("bulk_call_id"))


class ClientMessage(BaseModel):
    """One message from a watcher."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["subscribe", "unsubscribe", "ping"]
    call_id: int | None = Field(default=None, gt=0, lt=2**53)
    bulk_call_id: int | None = Field(default=None, gt=0, lt=2**53)


class BadMessage(ValueError):
    """A watcher's message that cannot be applied (the text is safe to send back)."""


def parse(body: str | None) -> ClientMessage:
    if not body or len(body) > 4096:
        raise BadMessage("a message is a JSON object of at most 4096 bytes with an action")
    try:
        message = ClientMessage.model_validate_json(body, strict=False)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "message"
        raise BadMessage(f"{where}: {first.get('msg', 'invalid')} (actions: subscribe, unsubscribe, ping; "
                         "optional call_id or bulk_call_id, positive integers)") from None
    if message.call_id is not None and message.bulk_call_id is not None:
        raise BadMessage("name a call_id or a bulk_call_id, not both")
    return message


def apply(current: Subscription, message: ClientMessage) -> Subscription:
    """The subscription after ``message`` (subscribe adds, unsubscribe removes; without an id: everything)."""
    new = Subscription(current.all, set(current.calls), set(current.campaigns))
    adding = message.action == "subscribe"
    if message.call_id is not None:
        (new.calls.add if adding else new.calls.discard)(message.call_id)
    elif message.bulk_call_id is not None:
        (new.campaigns.add if adding else new.campaigns.discard)(message.bulk_call_id)
    elif adding:
        new.all = True
    else:
        new = Subscription()
    if len(new.calls) + len(new.campaigns) > MAX_FOLLOWED:
        raise BadMessage(f"a connection follows at most {MAX_FOLLOWED} calls and campaigns; subscribe to all instead")
    return new
