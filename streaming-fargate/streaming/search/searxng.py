"""SearXNG (self-hosted metasearch) through its JSON API: ``GET {base}/search?q=...&format=json``.

The instance must enable the JSON format (``search.formats: [html, json]`` in its settings.yml). Answers are
read as SearXNG documents them: ``{"results": [{"title", "url", "content", ...}], ...}``; anything else is a
:class:`SearchProviderError`. The local stack's stand-in (``devstack/search_standin.py``) speaks the same API.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from streaming.search.base import MAX_QUERY_CHARS, PROVIDER_TIMEOUT_S, SearchProviderError, SearchResult
from streaming.search.http import SearchHttp
from streaming.search.text import results_from

DEFAULT_TIMEOUT_S = PROVIDER_TIMEOUT_S


class SearxngProvider:
    name = "SearXNG"

    def __init__(self, base_url: str, http: SearchHttp, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = http
        self._timeout_s = timeout_s

    async def search(self, query: str, max_results: int = 5) -> list[SearchResult]:
        url = f"{self.base_url}/search?" + urlencode({"q": query[:MAX_QUERY_CHARS], "format": "json"})
        answer = await self._http.get_json(url, provider=self.name, timeout_s=self._timeout_s)
        return parse_searxng(answer, max_results)


def parse_searxng(answer: Any, max_results: int) -> list[SearchResult]:
    if not isinstance(answer, dict) or not isinstance(answer.get("results"), list):
        raise SearchProviderError("SearXNG answered without a results list", provider="SearXNG")
    return results_from(answer["results"], max_results, title="title", url="url", snippet="content")
