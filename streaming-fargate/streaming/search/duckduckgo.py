"""DuckDuckGo through the ``ddgs`` library (``DDGS().text(...)``: ``[{"title", "href", "body"}]``).

``ddgs`` is blocking and makes its own HTTP requests (with ``primp``), to DuckDuckGo's fixed public hosts: it
cannot be routed through ``safe_http``, but nothing in a request is chosen by a user except the query text, so
there is no address to steer. It runs on the search threads with its own timeout; the caller's deadline
(``search_with_deadline``) bounds the wait. ``PARLEY_DDGS_BACKEND`` picks ddgs's backend ("duckduckgo" by
default, since that is what the agent asked for; "auto" lets ddgs spread over its engines).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

from streaming.search.base import MAX_QUERY_CHARS, PROVIDER_TIMEOUT_S, SearchProviderError, SearchResult, SearchTimeout
from streaming.search.http import run_blocking
from streaming.search.text import results_from

DEFAULT_BACKEND = "duckduckgo"
DEFAULT_TIMEOUT_S = PROVIDER_TIMEOUT_S


class TextSearcher(Protocol):
    def text(self, query: str, **kwargs: Any) -> list[dict[str, Any]]: ...


def _ddgs_client(timeout_s: float) -> TextSearcher:
    from ddgs import DDGS

    return DDGS(timeout=max(1, math.ceil(timeout_s)))


class DuckDuckGoProvider:
    name = "DuckDuckGo"

    def __init__(self, *, backend: str = DEFAULT_BACKEND, timeout_s: float = DEFAULT_TIMEOUT_S,
                 client_factory: Callable[[float], TextSearcher] = _ddgs_client) -> None:
        self.backend = backend
        self._timeout_s = timeout_s
        self._client_factory = client_factory

    async def search(self, query: str, max_results: int = 5) -> list[SearchResult]:
        items = await run_blocking(self._search_blocking, query[:MAX_QUERY_CHARS], max_results)
        return results_from(items, max_results, title="title", url="href", snippet="body")

    def _search_blocking(self, query: str, max_results: int) -> Any:
        from ddgs.exceptions import DDGSException, RatelimitException, TimeoutException

        try:
            return self._client_factory(self._timeout_s).text(query, max_results=max_results, backend=self.backend,
                                                              safesearch="moderate")
        except TimeoutException:
            raise SearchTimeout("DuckDuckGo did not answer in time", provider=self.name) from None
        except RatelimitException:
            raise SearchProviderError("DuckDuckGo is rate limiting us", provider=self.name) from None
        except DDGSException as error:
            if "no results" in str(error).lower():
                return []
            raise SearchProviderError("DuckDuckGo search failed", provider=self.name) from None
        except Exception as error:  # ddgs wraps its HTTP client's errors unevenly: any other failure is the provider's
            raise SearchProviderError(f"DuckDuckGo search failed ({type(error).__name__})",
                                      provider=self.name) from None
