"""Phone number bodies (``phone_number.import_twilio`` / ``import_sip`` / ``import_whatsapp`` / ``attach`` /
``detach``)."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from chalicelib.schemas.common import E164, Flag, Id, Out, Strict

HOSTNAME_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$|^\[?[0-9A-Fa-f:.]+\]?$"  # a name or an IP literal
Hostname = Annotated[str, Field(pattern=HOSTNAME_PATTERN, max_length=253)]


class ResellerScoped(Strict):
    user_id: Id | None = Field(default=None, description="Reseller accounts only; not supported here.")


class TwilioImport(Strict):
    phone_number: E164
    account_sid: Annotated[str, Field(pattern=r"^AC[0-9a-fA-F]{32}$", description="Twilio account SID (AC + 32 hex).")]
    account_token: Annotated[str, Field(min_length=8, max_length=128, description="Twilio auth token (write-only).")]
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class SipImport(Strict):
    """A number served by the customer's SIP trunk, dialled and answered through Twilio's SIP interface."""

    phone_number: E164
    sip_host: Annotated[Hostname, Field(description="The trunk's SIP host (name or IP literal). Must be public: "
                                        "loopback, private and link-local targets are refused.")]
    sip_trunk_name: Annotated[str, Field(min_length=1, max_length=200)]
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    sip_port: Annotated[int, Field(ge=1, le=65535)] = 5060
    sip_transport: Literal["udp", "tcp", "tls"] | None = Field(
        default=None, description="Added to the URI as ;transport=... (none: Twilio's default, UDP).")
    sip_username: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\s@:;]+$",
                                       description="Digest username; goes with sip_password.")] | None = None
    sip_password: Annotated[str, Field(min_length=1, max_length=128, description="Write-only.")] | None = None
    sip_dial_prefix: Annotated[str, Field(pattern=r"^[0-9*#]{1,16}$")] | None = None
    sip_strip_plus: Flag = False
    twilio_account_sid: Annotated[str, Field(pattern=r"^AC[0-9a-fA-F]{32}$")] | None = Field(
        default=None, description="The Twilio account whose SIP interface places and receives this number's calls "
                                  "(a SIP Domain of it routes inbound calls). Without it the number is stored but "
                                  "not dialable.")
    twilio_account_token: Annotated[str, Field(min_length=8, max_length=128)] | None = Field(
        default=None, description="That Twilio account's auth token (write-only); goes with twilio_account_sid.")


class WhatsAppImport(Strict):
    """A WhatsApp Business number on Meta's Cloud API, whose calls come through the Calling API
    (docs/whatsapp-calls.md)."""

    phone_number: E164
    whatsapp_phone_number_id: Annotated[str, Field(pattern=r"^[0-9]{1,32}$", description=(
        "Meta's phone number id (digits), from WhatsApp Manager or the app's API Setup page."))]
    access_token: Annotated[str, Field(min_length=1, max_length=1024, description=(
        "A system user token with whatsapp_business_messaging (write-only, sealed at rest)."))]
    app_secret: Annotated[str, Field(min_length=1, max_length=256, description=(
        "The Meta app's secret, which signs its webhooks (write-only, sealed at rest)."))]
    verify_token: Annotated[str, Field(min_length=16, max_length=128, pattern=r"^[\x21-\x7e]+$", description=(
        "What Meta sends back when the callback URL is verified (printable ASCII, no spaces); generated when "
        "absent."))] | None = None
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class Attach(ResellerScoped):
    phone_number_id: Id
    agent_id: Id


class Detach(ResellerScoped):
    phone_number_id: Id


class InboundSetupOut(Out):
    """What Parley did to route the number's inbound calls to it (on import and attach)."""

    configured: bool = Field(description="The number's VoiceUrl and StatusCallback were set through Twilio's "
                             "IncomingPhoneNumbers API (never for SIP and WhatsApp numbers: see manual_steps).")
    voice_url: str = Field(description="The webhook the carrier must POST inbound calls to (WhatsApp: the Meta "
                           "app's Callback URL).")
    status_callback: str = Field(description="The webhook the carrier must POST call status changes to (WhatsApp: "
                                 "the same Callback URL).")
    manual_steps: str | None = Field(default=None, description="When not configured: why, and what to set by hand "
                                     "in the Twilio console.")


class PhoneNumberOut(Out):
    id: int
    phone_number: str
    provider: str
    name: str | None = None
    agent_id: int | None = None
    dialable: bool
    settings: dict[str, Any]
    created_at: datetime
    inbound: InboundSetupOut | None = Field(default=None, description="Import and attach only: whether inbound "
                                            "calls were routed to Parley, or what to set by hand.")


class PhoneNumberList(Out):
    status: str = "success"
    phone_numbers: list[PhoneNumberOut]
    total_records: int
    pageno: int
    pagesize: int


class PhoneNumberResult(Out):
    status: str = "success"
    phone_number: PhoneNumberOut
