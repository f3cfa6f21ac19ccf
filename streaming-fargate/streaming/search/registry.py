"""Which provider an agent's ``web_search`` section gets, the live-call deadline, and the config line logged at start.

An agent says ``{"enabled": true, "provider": "DuckDuckGo" | "SearXNG" | "Tavily" | "Exa"}`` (the SDK's default
provider is DuckDuckGo). Environment (read once per call from the ``env`` given):

``PARLEY_SEARXNG_URL``
    Base URL of a SearXNG instance (JSON format enabled): what ``"SearXNG"`` searches. The local stack points it
    at its stand-in (``devstack/search_standin.py``); pointing it at a real SearXNG is configuration only.
``PARLEY_SEARCH_PROVIDER_OVERRIDE``
    A provider name that every agent's searches go to, whatever the agent names. The local stack (no internet)
    sets ``SearXNG`` so DuckDuckGo/Tavily/Exa agents search the stand-in. Unset in a deployment.
``PARLEY_SEARCH_ALLOWED_NETWORKS``
    Private CIDRs a provider's address may be in (``streaming.search.http``); the local stack sets 127.0.0.0/8.
``PARLEY_DDGS_BACKEND``
    ddgs's backend for DuckDuckGo (default ``duckduckgo``).
``PARLEY_TAVILY_API_URL`` / ``PARLEY_EXA_API_URL``
    Base URL overrides (default the providers' public APIs), through the same SSRF guard.
``PARLEY_TAVILY_API_KEY`` / ``PARLEY_EXA_API_KEY``
    Deployment-wide keys, used only for an account that has not stored its own (``credentials``).
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import Protocol

from chalicelib.delivery.http_messages import shown
from chalicelib.domain.web_search import KEYED_PROVIDERS, SEARCH_PROVIDERS, canonical_provider
from streaming.search.base import (
    DEFAULT_DEADLINE_S,
    SearchError,
    SearchNotConfigured,
    SearchProvider,
    SearchResult,
    SearchTimeout,
)
from streaming.search.http import SearchHttp, allowed_networks_from

SEARXNG_URL_ENV = "PARLEY_SEARXNG_URL"
OVERRIDE_ENV = "PARLEY_SEARCH_PROVIDER_OVERRIDE"
PROVIDERS = SEARCH_PROVIDERS

_http_clients: dict[tuple[str, ...], SearchHttp] = {}
_http_lock = threading.Lock()


class WebSearchLike(Protocol):
    """``chalicelib.domain.agent_settings.WebSearch`` or anything with the same two fields."""

    @property
    def enabled(self) -> bool: ...

    @property
    def provider(self) -> str: ...


canonical_name = canonical_provider


def shared_http(env: Mapping[str, str]) -> SearchHttp:
    """One SSRF-safe client per allowed-networks setting (its connection pools are shared by every call)."""
    networks = allowed_networks_from(env)
    with _http_lock:
        client = _http_clients.get(networks)
        if client is None:
            client = _http_clients[networks] = SearchHttp(networks)
        return client


def effective_provider(settings: WebSearchLike | None, env: Mapping[str, str]) -> str:
    """The canonical provider an agent's searches go to (after the override); SearchNotConfigured if none."""
    if settings is None or not settings.enabled:
        raise SearchNotConfigured("web search is off for this agent")
    override = env.get(OVERRIDE_ENV, "").strip()
    wanted = override or settings.provider
    name = canonical_name(wanted)
    if name is None:
        source = f"{OVERRIDE_ENV}" if override else "the agent's web_search.provider"
        raise SearchNotConfigured(f"unknown search provider {wanted[:64]!r} in {source} "
                                  f"(one of {', '.join(PROVIDERS)})")
    return name


def provider_for(settings: WebSearchLike | None, credentials: Mapping[str, str] | None, env: Mapping[str, str],
                 *, http: SearchHttp | None = None) -> SearchProvider:
    """The provider for an agent's ``web_search`` section.

    ``credentials`` maps a provider's canonical name (``"Tavily"``, ``"Exa"``) to the account's API key (opened
    from its sealed store for this call). Raises SearchNotConfigured (search off, unknown provider, no URL/key).
    """
    name = effective_provider(settings, env)
    client = http or shared_http(env)
    if name == "SearXNG":
        from streaming.search.searxng import SearxngProvider

        base_url = env.get(SEARXNG_URL_ENV, "").strip()
        if not base_url:
            raise SearchNotConfigured(f"SearXNG has no URL ({SEARXNG_URL_ENV} is not set)", provider=name)
        return SearxngProvider(base_url, client)
    if name == "DuckDuckGo":
        from streaming.search.duckduckgo import DEFAULT_BACKEND, DuckDuckGoProvider

        return DuckDuckGoProvider(backend=env.get("PARLEY_DDGS_BACKEND", "").strip() or DEFAULT_BACKEND)
    key = (credentials or {}).get(name) or env.get(f"PARLEY_{name.upper()}_API_KEY", "")
    if not key:
        raise SearchNotConfigured(f"{name} needs an API key and this account has none", provider=name)
    base_override = env.get(f"PARLEY_{name.upper()}_API_URL", "").strip()
    if name == "Tavily":
        from streaming.search.tavily import DEFAULT_BASE_URL as TAVILY_URL
        from streaming.search.tavily import TavilyProvider

        return TavilyProvider(key, client, base_url=base_override or TAVILY_URL)
    from streaming.search.exa import DEFAULT_BASE_URL as EXA_URL
    from streaming.search.exa import ExaProvider

    return ExaProvider(key, client, base_url=base_override or EXA_URL)


async def search_with_deadline(provider: SearchProvider, query: str, max_results: int = 5,
                               timeout_s: float = DEFAULT_DEADLINE_S) -> list[SearchResult]:
    """``provider.search`` within ``timeout_s``: SearchTimeout past it, SearchError for any other failure.

    An empty query is a SearchError (nothing is sent). ``max_results`` is kept within 1..10."""
    cleaned = " ".join(query.split())
    if not cleaned:
        raise SearchError("there is nothing to search for", provider=provider.name)
    count = max(1, min(int(max_results), 10))
    try:
        return await asyncio.wait_for(provider.search(cleaned, count), timeout=timeout_s)
    except TimeoutError:
        raise SearchTimeout(f"the search took longer than {timeout_s:g} seconds", provider=provider.name) from None
    except SearchError:
        raise
    except Exception as error:  # a provider's bug must not take the call down: a failed search is spoken as such
        raise SearchError(f"{provider.name} search failed ({type(error).__name__})", provider=provider.name) from None


def warm_up() -> None:
    """Import the provider clients now (blocking: run it in a thread at start), not during a call's first search
    (``tavily`` takes ~0.5 s to import)."""
    import ddgs  # noqa: F401  # imported for its import cost only
    import tavily  # noqa: F401  # imported for its import cost only


def describe_config(env: Mapping[str, str]) -> str:
    """One line for the service's start-up log: where searches go in this process (no secrets)."""
    searxng = env.get(SEARXNG_URL_ENV, "").strip()
    searxng_text = shown(searxng) if searxng else "not configured"
    try:
        networks = ", ".join(allowed_networks_from(env)) or "none (public addresses only)"
    except ValueError as error:
        networks = f"INVALID: {error}"
    override = env.get(OVERRIDE_ENV, "").strip()
    if override:
        target = canonical_name(override)
        where = (f"every agent's searches go to {target} ({OVERRIDE_ENV})" if target
                 else f"INVALID {OVERRIDE_ENV}={override[:64]!r}: searches will fail")
    else:
        shared = [name for name in KEYED_PROVIDERS if env.get(f"PARLEY_{name.upper()}_API_KEY")]
        where = ("providers as each agent names them; DuckDuckGo via ddgs; Tavily/Exa with the account's key"
                 + (f" (deployment key for {', '.join(shared)})" if shared else ""))
    return f"web search: {where}; SearXNG: {searxng_text}; private networks allowed: {networks}"


