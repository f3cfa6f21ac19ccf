"""Agent bodies, field for field with the ``omnidimension`` SDK's ``agent.create``."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from chalicelib.domain.errors import NotSupported
from chalicelib.schemas.common import (
    Flag,
    LongText,
    Out,
    Section,
    ShortText,
    Strict,
    Timezone,
)

Temperature = Annotated[float, Field(ge=0, le=2)]
Provider = Annotated[str, Field(min_length=1, max_length=64)]


class ContextBlock(Strict):
    title: Annotated[str, Field(min_length=1, max_length=200)]
    body: LongText
    is_enabled: Flag = True


class Transcriber(Section):
    provider: Provider | None = None
    silence_timeout_ms: Annotated[int, Field(ge=100, le=10_000)] | None = None
    should_apply_noise_reduction: Flag | None = None
    language: Annotated[str, Field(min_length=2, max_length=16)] | None = None


class LlmModel(Section):
    model: Provider | None = None
    temperature: Temperature | None = None
    max_tokens: Annotated[int, Field(ge=1, le=8192)] | None = None


class Voice(Section):
    provider: Provider | None = None
    voice_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    speech_speed: Annotated[float, Field(ge=0.25, le=4)] | None = None


class WebSearch(Section):
    enabled: Flag = False
    provider: Provider = "DuckDuckGo"


IncludeItem = Literal["summary", "extracted_variables", "fullConversation", "sentiment", "recording_url"]


class ExtractedVariable(Strict):
    key: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
    prompt: Annotated[str, Field(min_length=1, max_length=2000)]


class LegacyEmailAction(Strict):
    enabled: Flag = True
    recipients: Annotated[list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]], Field(min_length=1, max_length=50)]
    include: list[IncludeItem] = Field(default_factory=lambda: ["summary", "extracted_variables"])
    extracted_variables: Annotated[list[ExtractedVariable], Field(max_length=50)] = Field(default_factory=list)


class LegacyWebhookAction(Strict):
    enabled: Flag = True
    url: Annotated[str, Field(pattern=r"^https?://[^\s]+$", max_length=2048)]
    include: list[IncludeItem] = Field(default_factory=lambda: ["summary", "extracted_variables"])
    extracted_variables: Annotated[list[ExtractedVariable], Field(max_length=50)] = Field(default_factory=list)


class LegacyPostCallActions(Strict):
    """The ``post_call_actions`` dict ``agent.create`` accepts; each becomes a post-call action."""

    email: LegacyEmailAction | None = None
    webhook: LegacyWebhookAction | None = None


class Filler(Section):
    enabled: Flag = False
    after_sec: Annotated[float, Field(ge=0, le=30)] | None = None


class BackgroundTrack(Section):
    enabled: Flag = False
    name: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    volume: Annotated[float, Field(ge=0, le=1)] = 0.2


class Voicemail(Section):
    enabled: Flag = False
    message: Annotated[str, Field(max_length=2000)] | None = None


class EndCall(Section):
    enabled: Flag = False
    condition: Annotated[str, Field(max_length=2000)] | None = None
    message: Annotated[str, Field(max_length=2000)] | None = None


class AgentFields(Strict):
    """Everything an agent is, except its name and prompt (shared by create and update)."""

    welcome_message: Annotated[str, Field(max_length=2000)] | None = None
    call_type: Literal["Incoming", "Outgoing"] | None = None
    is_interruption_allowed: Flag | None = None
    is_welcome_message_dynamic: Flag | None = None
    is_welcome_message_interruption: Flag | None = None
    transcriber: Transcriber | None = None
    model: LlmModel | None = None
    voice: Voice | None = None
    web_search: WebSearch | None = None
    filler: Filler | None = None
    background_track: BackgroundTrack | None = None
    voicemail: Voicemail | None = None
    end_call: EndCall | None = None
    timezone: Timezone | None = None


NOT_HONOURED_YET = ("filler", "background_track", "voicemail", "web_search")
"""Sections that are validated and stored but not acted on by calls yet: enabling one is refused."""


def refuse_not_honoured(body: Any) -> None:
    """Raise ``NotSupported`` naming the first section of ``NOT_HONOURED_YET`` the body enables.

    Only request bodies call this: stored agents are read as they are (``enabled: false`` or absent is fine).
    """
    for name in NOT_HONOURED_YET:
        section = getattr(body, name, None)
        if section is not None and getattr(section, "enabled", False):
            raise NotSupported(f"{name}: enabled is not supported yet (calls do not honour {name}); "
                               "send enabled: false or leave it out", field=name)


class AgentCreate(AgentFields):
    name: ShortText
    context_breakdown: Annotated[list[ContextBlock], Field(min_length=1, max_length=50)]
    post_call_actions: LegacyPostCallActions | None = None

    @model_validator(mode="after")
    def _not_honoured_yet(self) -> "AgentCreate":
        refuse_not_honoured(self)
        return self


class AgentUpdate(AgentFields):
    """PUT body: the fields given replace the stored ones; fields left out keep their value;
    an optional field sent as null is cleared."""

    @model_validator(mode="before")
    @classmethod
    def _required_stay_set(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in ("name", "context_breakdown"):
                if name in data and data[name] is None:
                    raise PydanticCustomError("required_not_null", f"{name} cannot be null")
        return data

    name: ShortText | None = None
    context_breakdown: Annotated[list[ContextBlock], Field(min_length=1, max_length=50)] | None = None

    @model_validator(mode="after")
    def _not_honoured_yet(self) -> "AgentUpdate":
        refuse_not_honoured(self)
        return self


class AgentOut(Out):
    id: int
    name: str
    context_breakdown: list[ContextBlock]
    welcome_message: str | None = None
    call_type: str | None = None
    is_interruption_allowed: bool | None = None
    is_welcome_message_dynamic: bool | None = None
    is_welcome_message_interruption: bool | None = None
    transcriber: Transcriber | None = None
    model: LlmModel | None = None
    voice: Voice | None = None
    web_search: WebSearch | None = None
    filler: Filler | None = None
    background_track: BackgroundTrack | None = None
    voicemail: Voicemail | None = None
    end_call: EndCall | None = None
    timezone: str | None = None
    created_at: datetime
    updated_at: datetime


class AgentList(Out):
    status: str = "success"
    agents: list[AgentOut]
    total_records: int
    pageno: int
    pagesize: int
