"""Exa through its documented REST API, ``POST {base}/search`` with ``x-api-key``, sent with ``safe_http``.

Why not the official client (``exa-py``): its synchronous ``Exa`` sends with module-level ``requests.post`` and its
``AsyncExa`` keeps a private ``httpx`` client; neither takes a session or transport, so its requests could not go
through the SSRF guard without patching the library. The request is the one ``Exa.search(query, num_results=n,
type="fast", contents={"highlights": {"max_characters": 600}})`` sends: ``{"query", "numResults", "type",
"contents": {"highlights": {"maxCharacters"}}}``; the answer is ``{"results": [{"title", "url", "highlights": [...],
"text"?, "summary"?}], ...}``.
"""
from __future__ import annotations

from typing import Any

from streaming.search.base import MAX_QUERY_CHARS, PROVIDER_TIMEOUT_S, SearchProviderError, SearchResult
from streaming.search.http import SearchHttp
from streaming.search.text import MAX_SNIPPET_CHARS, result_from

DEFAULT_BASE_URL = "https://api.exa.ai"
DEFAULT_TIMEOUT_S = PROVIDER_TIMEOUT_S


class ExaProvider:
    name = "Exa"

    def __init__(self, api_key: str, http: SearchHttp, *, base_url: str = DEFAULT_BASE_URL,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._api_key = api_key
        self._http = http
        self.base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s

    async def search(self, query: str, max_results: int = 5) -> list[SearchResult]:
        payload = {"query": query[:MAX_QUERY_CHARS], "numResults": max_results, "type": "fast",
                   "contents": {"highlights": {"maxCharacters": MAX_SNIPPET_CHARS}}}
        answer = await self._http.post_json(f"{self.base_url}/search", payload, provider=self.name,
                                            timeout_s=self._timeout_s, headers={"x-api-key": self._api_key})
        return parse_exa(answer, max_results)


def parse_exa(answer: Any, max_results: int) -> list[SearchResult]:
    if not isinstance(answer, dict) or not isinstance(answer.get("results"), list):
        raise SearchProviderError("Exa answered without a results list", provider="Exa")
    found: list[SearchResult] = []
    for item in answer["results"]:
        if len(found) >= max_results:
            break
        if not isinstance(item, dict):
            continue
        highlights = item.get("highlights")
        snippet: Any = " ".join(h for h in highlights if isinstance(h, str)) if isinstance(highlights, list) else None
        result = result_from(item.get("title"), item.get("url"), snippet or item.get("summary") or item.get("text"))
        if result is not None:
            found.append(result)
    return found
