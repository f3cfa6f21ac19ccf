"""Shared field types and base models."""
from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt

# The base models and field types the domain's settings use too (re-exported for every schema here).
from chalicelib.domain.fields import Flag, LongText, Section, Strict, Timezone

__all__ = ["CALL_STATUSES", "E164", "E164_PATTERN", "Deleted", "ErrorBody", "Flag", "Id", "JsonObject", "LongText",
           "Out", "Page", "Section", "ShortText", "Strict", "Timezone"]

E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
_E164 = re.compile(E164_PATTERN)

CALL_STATUSES = ("queued", "ringing", "in_progress", "completed", "failed", "busy", "no_answer")


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_e164(value: str) -> str:
    if not _E164.match(value):
        raise ValueError("must be a phone number in E.164 format, e.g. +14155550123")
    return value


E164 = Annotated[str, Field(pattern=E164_PATTERN, examples=["+14155550123"]), AfterValidator(_check_e164)]
Id = Annotated[StrictInt, Field(ge=1, le=2**53 - 1)]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]
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
