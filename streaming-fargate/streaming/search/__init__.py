"""Web search for agents (``web_search``): providers, the live-call deadline, and results as prompt text.

    from streaming.search import provider_for, search_with_deadline, results_for_prompt, SearchError

    keys = await account_search_keys(account_id)                                             # {"Tavily": "..."}
    provider = provider_for(agent.web_search, credentials=keys, env=os.environ)               # SearchNotConfigured
    results = await search_with_deadline(provider, "farmers market hours", max_results=5)    # SearchTimeout (2.5 s)
    text = results_for_prompt(results, max_chars=1200)

Providers: SearXNG (JSON API), DuckDuckGo (``ddgs``), Tavily (``tavily-python``), Exa (REST API). Every request
that names an address goes through the SSRF guard (``streaming.search.http``). See ``registry`` for the config.
"""
from streaming.search.base import (
    SearchError,
    SearchNotConfigured,
    SearchProvider,
    SearchProviderError,
    SearchRefused,
    SearchResult,
    SearchTimeout,
)
from streaming.search.credentials import account_search_keys
from streaming.search.prompt_text import results_for_prompt
from streaming.search.registry import (
    DEFAULT_DEADLINE_S,
    PROVIDERS,
    canonical_name,
    describe_config,
    effective_provider,
    provider_for,
    search_with_deadline,
    warm_up,
)

__all__ = [
    "DEFAULT_DEADLINE_S",
    "PROVIDERS",
    "SearchError",
    "SearchNotConfigured",
    "SearchProvider",
    "SearchProviderError",
    "SearchRefused",
    "SearchResult",
    "SearchTimeout",
    "account_search_keys",
    "canonical_name",
    "describe_config",
    "effective_provider",
    "provider_for",
    "results_for_prompt",
    "search_with_deadline",
    "warm_up",
]
