"""Validated field types and base models shared by the domain core and the HTTP API's schemas.

They live in the core so that the streaming service can read typed settings (``agent_settings``)
without importing the HTTP API; ``chalicelib.schemas.common`` re-exports them for the API's bodies.
"""
from __future__ import annotations

import functools
from typing import Annotated, Any
from zoneinfo import ZoneInfo, available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, model_serializer


class Strict(BaseModel):
    """Request bodies: unknown fields are errors, so typos are caught, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)


class Section(Strict):
    """A nested settings object: serialized without its unset (None) fields."""

    @model_serializer(mode="wrap")
    def _drop_none(self, handler: Any) -> Any:
        data = handler(self)
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def _check_timezone(value: str) -> str:
    if value not in _timezones():
        raise ValueError("must be an IANA timezone name, e.g. 'America/New_York'")
    ZoneInfo(value)
    return value


Timezone = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_check_timezone)]
LongText = Annotated[str, Field(max_length=20_000)]
Flag = StrictBool
