"""Web-search key bodies (``/web_search/credentials``): keys are write-only, sealed at rest, never returned."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field

from chalicelib.domain.web_search import KEYED_PROVIDERS
from chalicelib.schemas.common import Out, Strict

KeyedProvider = Annotated[str, Field(min_length=1, max_length=64, description=(
    f"A web search provider that takes an API key: {', '.join(KEYED_PROVIDERS)} (any case)."))]


class SearchKeyPut(Strict):
    provider: KeyedProvider
    api_key: Annotated[str, Field(min_length=8, max_length=512, pattern=r"^[\x21-\x7e]+$", description=(
        "The provider's API key (write-only: sealed at rest and never returned)."))]


class SearchKeyQuery(Strict):
    model_config = ConfigDict(extra="forbid", strict=False)
    provider: KeyedProvider


class SearchKeyStatus(Out):
    provider: str
    configured: bool = Field(description="Whether the account has a key stored for this provider.")
    updated_at: datetime | None = None


class SearchKeyList(Out):
    credentials: list[SearchKeyStatus]
