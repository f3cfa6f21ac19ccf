"""Tavily through its official client, ``tavily-python`` (``TavilyClient.search``), routed through ``safe_http``.

The client accepts a ``requests.Session`` (its documented ``session`` argument): we hand it one whose transport is
the SSRF guard (``SearchHttp.session``), so the official client's requests are checked like every other search
request. Wire format (Tavily's REST API): ``POST {base}/search`` with ``Authorization: Bearer <key>`` and
``{"query", "max_results", "search_depth", ...}``; the answer is ``{"results": [{"title", "url", "content",
"score"}], ...}``. The client runs on the search threads (it is blocking), bounded by the caller's deadline.
"""
from __future__ import annotations

from typing import Any

from streaming.search.base import (
    MAX_QUERY_CHARS,
    PROVIDER_TIMEOUT_S,
    SearchError,
    SearchProviderError,
    SearchResult,
    SearchTimeout,
)
from streaming.search.http import SearchHttp, run_blocking
from streaming.search.text import results_from

DEFAULT_BASE_URL = "https://api.tavily.com"
DEFAULT_TIMEOUT_S = PROVIDER_TIMEOUT_S


class TavilyProvider:
    name = "Tavily"

    def __init__(self, api_key: str, http: SearchHttp, *, base_url: str = DEFAULT_BASE_URL,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._api_key = api_key
        self._http = http
        self.base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s

    def _client(self) -> Any:
        """A client for one search, made on the search thread (importing ``tavily`` takes ~0.5 s the first time:
        never on the event loop; ``registry.warm_up`` pays it at start)."""
        from tavily import TavilyClient

        return TavilyClient(api_key=self._api_key, api_base_url=self.base_url, client_source="parley",
                            session=self._http.session(self.name, self._timeout_s))

    async def search(self, query: str, max_results: int = 5) -> list[SearchResult]:
        answer = await run_blocking(self._search_blocking, query[:MAX_QUERY_CHARS], max_results)
        return parse_tavily(answer, max_results)

    def _search_blocking(self, query: str, max_results: int) -> Any:
        from tavily.errors import (
            BadRequestError,
            ForbiddenError,
            InvalidAPIKeyError,
            UsageLimitExceededError,
        )
        from tavily.errors import TimeoutError as TavilyTimeout

        try:
            return self._client().search(query, max_results=max_results, search_depth="basic",
                                         timeout=self._timeout_s)
        except SearchError:
            raise  # from our transport (refused, timed out, too large): already speakable
        except TavilyTimeout:
            raise SearchTimeout("Tavily did not answer in time", provider=self.name) from None
        except (InvalidAPIKeyError, ForbiddenError):
            raise SearchProviderError("Tavily refused the API key", provider=self.name) from None
        except UsageLimitExceededError:
            raise SearchProviderError("Tavily's usage limit is reached", provider=self.name) from None
        except BadRequestError:
            raise SearchProviderError("Tavily refused the request", provider=self.name) from None
        except Exception as error:  # the client raises requests' HTTPError for other statuses, ValueError for bad JSON
            raise SearchProviderError(f"Tavily search failed ({type(error).__name__})", provider=self.name) from None


def parse_tavily(answer: Any, max_results: int) -> list[SearchResult]:
    if not isinstance(answer, dict) or not isinstance(answer.get("results"), list):
        raise SearchProviderError("Tavily answered without a results list", provider="Tavily")
    return results_from(answer["results"], max_results, title="title", url="url", snippet="content")
