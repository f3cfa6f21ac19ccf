"""Post-call action bodies (``agent.add_post_call_action`` / ``update_post_call_action``)."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from chalicelib.delivery.channels.email import MAX_RECIPIENTS as MAX_EMAIL_RECIPIENTS
from chalicelib.delivery.templates import MAX_RENDERED_BYTES, MAX_TEMPLATE_BYTES, template_size
from chalicelib.schemas.agents import ExtractedVariable, IncludeItem
from chalicelib.schemas.common import E164_PATTERN, Flag, Out, Strict

ActionType = Literal["webhook", "email", "slack", "salesforce", "hubspot", "cloud_whatsapp"]
ACTION_TYPES: tuple[str, ...] = ActionType.__args__  # type: ignore[attr-defined]  # a Literal's members, read at run time
CallStatus = Literal["completed", "failed", "busy", "no_answer"]
Url = Annotated[str, Field(pattern=r"^https?://[^\s/]+[^\s]*$", max_length=2048)]
Recipient = Annotated[str, Field(min_length=3, max_length=254)]
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_E164 = re.compile(E164_PATTERN)

# Credentials each channel needs; they are sealed at rest and never returned.
REQUIRED_CREDENTIALS: dict[str, tuple[str, ...]] = {
    "salesforce": ("instance_url", "client_id", "client_secret"),
    "hubspot": ("access_token",),
    "cloud_whatsapp": ("phone_number_id", "access_token"),
}


class ActionFields(Strict):
    enabled: Flag | None = None
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    url: Url | None = Field(default=None, description=(
        "Where webhook and Slack actions deliver. A Slack webhook URL, or a URL with user:pass@, is a secret: "
        "it is sealed at rest and shown masked (e.g. https://hooks.slack.com/services/***); sending the masked "
        "URL back in an update leaves the URL unchanged."))
    recipients: Annotated[list[Recipient], Field(min_length=1, max_length=50)] | None = None
    include: Annotated[list[IncludeItem], Field(max_length=5)] | None = None
    extracted_variables: Annotated[list[ExtractedVariable], Field(max_length=50)] | None = None
    trigger_call_statuses: Annotated[list[CallStatus], Field(min_length=1, max_length=4)] | None = None
    payload_template: dict[str, Any] | None = Field(
        default=None,
        description="Custom webhook body: any JSON object whose strings may use call variables, "
        "e.g. {{summary}}, {{extracted_variables.date}}, {{call_context.customer_name}}. At most "
        f"{MAX_TEMPLATE_BYTES} bytes as compact JSON; a delivery whose rendered body passes "
        f"{MAX_RENDERED_BYTES} bytes fails without being sent.",
    )
    credentials: dict[str, Annotated[str, Field(min_length=1, max_length=4096)]] | None = Field(
        default=None, description="Channel credentials (write-only, sealed at rest)."
    )

    @field_validator("payload_template")
    @classmethod
    def _template_size(cls, template: dict[str, Any] | None) -> dict[str, Any] | None:
        if template is not None and (size := template_size(template)) > MAX_TEMPLATE_BYTES:
            raise ValueError(f"is {size} bytes as compact JSON; at most {MAX_TEMPLATE_BYTES} are allowed")
        return template


class ActionCreate(ActionFields):
    type: ActionType

    @model_validator(mode="after")
    def _channel_requirements(self) -> ActionCreate:
        check_channel(self.type, self)
        return self


class ActionUpdate(ActionFields):
    type: ActionType | None = Field(default=None, description="May be sent, but must equal the stored type.")


def check_channel(action_type: str, fields: ActionFields) -> None:
    """Raise ValueError when ``fields`` lack what the channel ``action_type`` needs."""
    if action_type in ("webhook", "slack") and not fields.url:
        raise ValueError(f"url is required for a {action_type} action")
    recipient_rule = {"email": (_EMAIL, "an email address"), "cloud_whatsapp": (_E164, "an E.164 phone number")}
    if action_type in recipient_rule:
        pattern, what = recipient_rule[action_type]
        if not fields.recipients:
            raise ValueError(f"recipients is required for a {action_type} action")
        if action_type == "email" and len(fields.recipients) > MAX_EMAIL_RECIPIENTS:
            raise ValueError(f"recipients: an email action has at most {MAX_EMAIL_RECIPIENTS} recipients "
                             f"(got {len(fields.recipients)})")
        for i, recipient in enumerate(fields.recipients):
            if not pattern.match(recipient):
                raise ValueError(f"recipients[{i}] must be {what}")
    needed = REQUIRED_CREDENTIALS.get(action_type, ())
    missing = [k for k in needed if not (fields.credentials or {}).get(k)]
    if missing:
        raise ValueError(f"credentials.{missing[0]} is required for a {action_type} action")
    if fields.payload_template is not None and action_type != "webhook":
        raise ValueError("payload_template applies to webhook actions only")


class ActionOut(Out):
    id: int
    agent_id: int
    type: str
    enabled: bool
    name: str | None = None
    url: str | None = Field(default=None, description="Masked when the URL is a secret (Slack, user:pass@)")
    recipients: list[str] | None = None
    include: list[str] | None = None
    extracted_variables: list[ExtractedVariable] | None = None
    trigger_call_statuses: list[str]
    payload_template: dict[str, Any] | None = None
    has_credentials: bool
    created_at: datetime
    updated_at: datetime


class ActionCreated(ActionOut):
    signing_secret: str | None = Field(
        default=None, description="Webhook actions: the whsec_ secret that signs deliveries (shown here once)."
    )


class SigningSecret(Out):
    status: str = "success"
    id: int
    signing_secret: str


class ActionList(Out):
    status: str = "success"
    post_call_actions: list[ActionOut]
    total: int


DEFAULT_TRIGGER_STATUSES: tuple[str, ...] = ("completed",)
