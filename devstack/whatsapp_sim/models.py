"""The request bodies the simulator accepts (Graph API and ``/sim/whatsapp`` control), validated at the edge."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from devstack.carrier_sim.scripts import Step, parse_script

DIGITS = r"^\+?[0-9]{1,20}$"


def script_steps(value: Any) -> tuple[Step, ...]:
    """A caller script for a WhatsApp user (the carrier simulator's format; no dtmf on WhatsApp calls)."""
    steps = parse_script(value)  # ScriptError is a ValueError: pydantic reports it as a validation error
    if any(step.kind == "dtmf" for step in steps):
        raise ValueError("dtmf steps are not supported on WhatsApp calls")
    return steps


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NumberBody(_Body):
    display_phone_number: str = Field(pattern=DIGITS)
    access_token: str = Field(min_length=1, max_length=1024)
    app_secret: str = Field(min_length=1, max_length=256)
    webhook_url: str = Field(pattern=r"^https?://\S+$")
    waba_id: str | None = Field(default=None, pattern=r"^[0-9]{1,32}$")


class PermissionBody(_Body):
    status: Literal["granted", "no_permission", "temporary"]
    expiration_time: int | None = None
    can_start_call: bool | None = None


class UserBody(_Body):
    answer: Literal["accept", "reject", "ignore"] = "accept"
    script: list[Any] = Field(default_factory=lambda: [{"wait_agent": True}, {"hang_up": True}])
    name: str | None = Field(default=None, max_length=100)
    answer_after_s: float = Field(default=1.0, ge=0, le=120)

    @field_validator("script")
    @classmethod
    def _valid_script(cls, value: list[Any]) -> list[Any]:
        script_steps(value)
        return value


class StartCallBody(_Body):
    phone_number_id: str = Field(pattern=r"^[0-9]{1,32}$")
    from_: str = Field(alias="from", pattern=DIGITS)
    name: str | None = Field(default=None, max_length=100)
    script: list[Any]

    @field_validator("script")
    @classmethod
    def _valid_script(cls, value: list[Any]) -> list[Any]:
        script_steps(value)
        return value


class Session(BaseModel):
    sdp_type: Literal["offer", "answer"]
    sdp: str = Field(min_length=1, max_length=100_000)


class CallActionBody(BaseModel):
    """``POST /{phone_number_id}/calls``. Graph ignores fields it does not know: so does the simulator."""

    messaging_product: Literal["whatsapp"]
    action: Literal["connect", "pre_accept", "accept", "reject", "terminate"]
    call_id: str | None = Field(default=None, min_length=1, max_length=256)
    to: str | None = Field(default=None, pattern=DIGITS)
    session: Session | None = None
    biz_opaque_callback_data: str | None = Field(default=None, max_length=512)


class MessageBody(BaseModel):
    """``POST /{phone_number_id}/messages`` (what the simulator checks of it)."""

    messaging_product: Literal["whatsapp"]
    to: str = Field(pattern=DIGITS)
    type: str = "text"
