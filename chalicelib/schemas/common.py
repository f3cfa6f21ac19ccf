"""Shared field types and base models."""
from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, model_validator

from chalicelib.db.paging import MAX_DEPTH as MAX_PAGE_DEPTH
from chalicelib.domain.errors import ValidationFailed

# The base models and field types the domain's settings use too (re-exported for every schema here).
from chalicelib.domain.fields import Flag, LongText, Section, Strict, Timezone

__all__ = ["CALL_STATUSES", "E164", "E164_PATTERN", "MAX_PAGE_DEPTH", "Deleted", "ErrorBody", "Flag", "Id",
           "JsonObject", "LongText", "Out", "Page", "Section", "ShortText", "Strict", "Timezone"]

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
    """``pageno``/``pagesize`` query parameters of list endpoints, at most ``MAX_PAGE_DEPTH`` items deep.

    ``total_records`` in list responses counts at most ``MAX_PAGE_DEPTH`` items (see ``chalicelib.db.paging``).
    """

    model_config = ConfigDict(extra="ignore", strict=False)
    pageno: Annotated[int, Field(ge=1, le=MAX_PAGE_DEPTH)] = 1
    pagesize: Annotated[int, Field(ge=1, le=100)] = 30

    @model_validator(mode="after")
    def _bounded_depth(self) -> Page:
        if self.pageno * self.pagesize > MAX_PAGE_DEPTH:
            raise ValidationFailed(
                f"pageno: pages reach {MAX_PAGE_DEPTH} items at most (pageno * pagesize <= {MAX_PAGE_DEPTH}); "
                "narrow the list with its filters, or follow next_cursor with the cursor parameter "
                "where the list has one (GET calls/logs)",
                field="pageno",
            )
        return self
