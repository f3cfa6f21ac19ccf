"""The web-search interface: what a provider returns, how it fails, and the Protocol every provider follows.

A provider turns a query into at most ``max_results`` :class:`SearchResult` (plain text, no markup) or
raises a :class:`SearchError` whose message is short and safe to say to a caller or log: it never holds
an API key, a URL with credentials or a provider's raw answer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

MAX_QUERY_CHARS = 400  # a spoken question; longer queries are cut before they are sent
DEFAULT_DEADLINE_S = 2.5  # what a caller waits for a search (``registry.search_with_deadline``)
PROVIDER_TIMEOUT_S = DEFAULT_DEADLINE_S + 0.5
"""A provider's own network timeout: a backstop that ends its thread's request, set past the deadline so the
deadline is what a caller meets (two equal timers raced: either message could come back)."""


@dataclass(frozen=True)
class SearchResult:
    title: str
    url: str
    snippet: str


class SearchError(Exception):
    """A search did not produce results. ``str(error)`` is short and safe to speak or log."""

    def __init__(self, message: str, *, provider: str | None = None) -> None:
        super().__init__(message)
        self.provider = provider


class SearchTimeout(SearchError):
    """The search took longer than its deadline (2.5 s for a live call)."""


class SearchProviderError(SearchError):
    """The provider refused or failed the request, or answered something we could not read."""


class SearchNotConfigured(SearchError):
    """Web search is off for the agent, names an unknown provider, or lacks the provider's key or URL."""


class SearchRefused(SearchError):
    """The provider's address is not allowed (SSRF guard: private, loopback, link-local, metadata)."""


@runtime_checkable
class SearchProvider(Protocol):
    name: str  # "SearXNG" | "DuckDuckGo" | "Tavily" | "Exa"

    async def search(self, query: str, max_results: int = 5) -> list[SearchResult]:
        """At most ``max_results`` results, best first; raises SearchError (never another exception)."""
        ...
