"""The web-search providers an agent's ``web_search.provider`` may name (the SDK's default is DuckDuckGo).

DuckDuckGo and SearXNG need no key; Tavily and Exa need the account's API key (``domain.search_credentials``).
Names are matched without regard to case, spaces or punctuation ("duckduckgo", "Duck Duck Go", "ddg").
"""
from __future__ import annotations

SEARCH_PROVIDERS = ("DuckDuckGo", "SearXNG", "Tavily", "Exa")
KEYED_PROVIDERS = ("Tavily", "Exa")
DEFAULT_SEARCH_PROVIDER = "DuckDuckGo"
_ALIASES = {"duckduckgo": "DuckDuckGo", "ddg": "DuckDuckGo", "ddgs": "DuckDuckGo", "searxng": "SearXNG",
            "searx": "SearXNG", "tavily": "Tavily", "exa": "Exa"}


def canonical_provider(name: str) -> str | None:
    """``"duckduckgo"``, ``"Duck Duck Go"``, ``"DDG"`` -> ``"DuckDuckGo"``; None for a provider there is not."""
    return _ALIASES.get("".join(ch for ch in name.lower() if ch.isalnum()))


def known_provider(name: str) -> str:
    """The canonical spelling of ``name`` (a pydantic after-validator: ValueError lists the providers)."""
    canonical = canonical_provider(name)
    if canonical is None:
        raise ValueError(f"unknown web search provider {name[:64]!r}; the providers are {', '.join(SEARCH_PROVIDERS)}")
    return canonical
