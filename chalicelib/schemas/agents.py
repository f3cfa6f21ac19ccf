"""Agent bodies, field for field with the ``omnidimension`` SDK's ``agent.create``.

The settings sections (transcriber, model, voice, ...) are the domain's typed model of an agent's stored
config (``chalicelib.domain.agent_settings``), which the streaming service reads too.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from chalicelib.delivery.channels.email import MAX_RECIPIENTS as MAX_EMAIL_RECIPIENTS
from chalicelib.domain.agent_settings import (
    AgentFields,
    BackgroundTrack,
    ContextBlock,
    EndCall,
    Filler,
    LlmModel,
    Transcriber,
    Voice,
    Voicemail,
    WebSearch,
)
from chalicelib.domain.background_tracks import BACKGROUND_TRACKS
from chalicelib.domain.errors import NotSupported, ValidationFailed
from chalicelib.schemas.common import Flag, Out, ShortText, Strict

IncludeItem = Literal["summary", "extracted_variables", "fullConversation", "sentiment", "recording_url"]


class ExtractedVariable(Strict):
    key: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
    prompt: Annotated[str, Field(min_length=1, max_length=2000)]


def _default_include() -> list[IncludeItem]:
    return ["summary", "extracted_variables"]


class LegacyEmailAction(Strict):
    enabled: Flag = True
    recipients: Annotated[list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]],
                          Field(min_length=1, max_length=MAX_EMAIL_RECIPIENTS)]
    include: list[IncludeItem] = Field(default_factory=_default_include)
    extracted_variables: Annotated[list[ExtractedVariable], Field(max_length=50)] = Field(default_factory=list)


class LegacyWebhookAction(Strict):
    enabled: Flag = True
    url: Annotated[str, Field(pattern=r"^https?://[^\s]+$", max_length=2048)]
    include: list[IncludeItem] = Field(default_factory=_default_include)
    extracted_variables: Annotated[list[ExtractedVariable], Field(max_length=50)] = Field(default_factory=list)


class LegacyPostCallActions(Strict):
    """The ``post_call_actions`` dict ``agent.create`` accepts; each becomes a post-call action."""

    email: LegacyEmailAction | None = None
    webhook: LegacyWebhookAction | None = None


NOT_HONOURED_YET: tuple[str, ...] = ()  # web_search is honoured (streaming.pipeline.tool_calls)
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


def refuse_unknown_track(body: Any) -> None:
    """Raise ``ValidationFailed`` when the body names a background track calls cannot play (listing those they can).

    Only request bodies call this: a stored agent naming a track that is gone still reads (calls play the default).
    """
    section = getattr(body, "background_track", None)
    name = section.name if section is not None else None
    if name is not None and name not in BACKGROUND_TRACKS:
        known = ", ".join(f'"{track}"' for track in BACKGROUND_TRACKS)
        raise ValidationFailed(f"background_track.name: no track named {name!r}; the tracks are {known}",
                               field="background_track.name")


class AgentCreate(AgentFields):
    name: ShortText
    context_breakdown: Annotated[list[ContextBlock], Field(min_length=1, max_length=50)]
    post_call_actions: LegacyPostCallActions | None = None

    @model_validator(mode="after")
    def _not_honoured_yet(self) -> AgentCreate:
        refuse_not_honoured(self)
        refuse_unknown_track(self)
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
    def _not_honoured_yet(self) -> AgentUpdate:
        refuse_not_honoured(self)
        refuse_unknown_track(self)
        return self


class WebWidgetOut(Out):
    enabled: bool
    allowed_origins: list[str]
    public_key: str | None = Field(default=None, json_schema_extra={"readOnly": True}, description=(
        "The key a web page starts calls with (Authorization: Bearer pub_...). Issued when the widget is first "
        "enabled, replaced by rotate-key; safe to embed in a page (it works only from the allowed origins)."))


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
    web_widget: WebWidgetOut | None = None
    created_at: datetime
    updated_at: datetime


class AgentList(Out):
    status: str = "success"
    agents: list[AgentOut]
    total_records: int
    pageno: int
    pagesize: int
