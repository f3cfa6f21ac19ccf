"""Provider listing bodies (``providers.list_*``)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from chalicelib.schemas.common import Out, Strict


class Service(Out):
    model_config = ConfigDict(extra="allow")
    name: str
    display_name: str
    runtime: Literal["local", "aws"]
    default: bool


class VoiceOut(Out):
    id: int
    provider: str
    voice_id: str
    name: str
    language: str
    gender: str
    accent: str
    sample_rate: int


class SttList(Out):
    stt: list[Service]
    total: int


class LlmList(Out):
    llms: list[Service]
    total: int


class TtsList(Out):
    tts: list[Service]
    total: int


class AllProviders(Out):
    services: list[dict[str, Any]]
    voices: list[VoiceOut]
    total_services: int
    total_voices: int


class VoicesQuery(Strict):
    model_config = ConfigDict(extra="ignore", strict=False)
    provider: Annotated[str, Field(max_length=64)] | None = None
    search: Annotated[str, Field(max_length=200)] | None = None
    language: Annotated[str, Field(max_length=32)] | None = None
    accent: Annotated[str, Field(max_length=64)] | None = None
    gender: Literal["male", "female"] | None = None
    page: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    page_size: Annotated[int, Field(ge=1, le=100)] = 30


class VoiceList(Out):
    voices: list[VoiceOut]
    total: int
    page: int
    page_size: int
    filters_applied: dict[str, str]


