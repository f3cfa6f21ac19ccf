"""Shared field types and base models."""
from __future__ import annotations

import re
from typing import Annotated, Any
from zoneinfo import ZoneInfo, available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    model_serializer,
)

E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
_E164 = re.compile(E164_PATTERN)

CALL_STATUSES = ("queued", "ringing", "in_progress", "completed", "failed", "busy", "no_answer")


class Strict(BaseModel):
    """Request bodies: unknown fields are errors, so typos are caught, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)


class Section(Strict):
    """A nested settings object: serialized without its unset (None) fields."""

    @model_serializer(mode="wrap")
    def _drop_none(self, handler: Any) -> Any:
        data = handler(self)
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_e164(value: str) -> str:
    if not _E164.match(value):
        raise ValueError("must be a phone number in E.164 format, e.g. +14155550123")
    return value


def _check_timezone(value: str) -> str:
    if value not in _timezones():
        raise ValueError("must be an IANA timezone name, e.g. 'America/New_York'")
    ZoneInfo(value)
    return value


_TZ_CACHE: set[str] = set()


def _timezones() -> set[str]:
    if not _TZ_CACHE:
        _TZ_CACHE.update(available_timezones())
    return _TZ_CACHE


E164 = Annotated[str, Field(pattern=E164_PATTERN, examples=["+14155550123"]), AfterValidator(_check_e164)]
Timezone = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_check_timezone)]
Id = Annotated[StrictInt, Field(ge=1, le=2**53 - 1)]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]
LongText = Annotated[str, Field(max_length=20_000)]
Flag = StrictBool
JsonObject = dict[str, Any]


class ErrorBody(Out):
    error: str = Field(description="Machine-readable error code.")
    error_description: str = Field(description="What went wrong, naming the field when one is at fault.")
    field: str | None = Field(default=None, description="The offending field, when there is one.")


class Deleted(Out):
    status: str = "success"
    id: int


class Page(Strict):
    """``pageno``/``pagesize`` query parameters of list endpoints."""

    model_config = ConfigDict(extra="ignore", strict=False)
    pageno: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    pagesize: Annotated[int, Field(ge=1, le=100)] = 30
