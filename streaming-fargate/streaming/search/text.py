"""Cleaning what providers return into short plain text (no markup, no control characters)."""
from __future__ import annotations

import html
import re
from typing import Any

from streaming.search.base import SearchResult

MAX_TITLE_CHARS = 200
MAX_SNIPPET_CHARS = 600
MAX_URL_CHARS = 500

_TAG = re.compile(r"<[^>]{0,200}>")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")
_SPACE = re.compile(r"\s+")


def plain(value: Any, limit: int) -> str:
    """``value`` as one line of plain text: tags and entities gone, whitespace collapsed, at most ``limit``."""
    if not isinstance(value, str):
        return ""
    text = html.unescape(_TAG.sub(" ", value))
    text = _SPACE.sub(" ", _CONTROL.sub(" ", text)).strip()
    return clip(text, limit)


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    if limit <= 1:
        return text[:limit]
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


def result_from(title: Any, url: Any, snippet: Any) -> SearchResult | None:
    """A cleaned result, or None when it has neither a title nor a snippet, or its URL is not http(s)."""
    clean_url = url.strip() if isinstance(url, str) else ""
    if clean_url and not clean_url.lower().startswith(("http://", "https://")):
        return None
    result = SearchResult(title=plain(title, MAX_TITLE_CHARS), url=clip(clean_url, MAX_URL_CHARS),
                          snippet=plain(snippet, MAX_SNIPPET_CHARS))
    return result if (result.title or result.snippet) else None


def results_from(items: Any, max_results: int, *, title: str, url: str, snippet: str) -> list[SearchResult]:
    """Results read from a provider's list of objects (keys named by the provider), skipping malformed ones."""
    if not isinstance(items, list):
        return []
    found: list[SearchResult] = []
    for item in items:
        if len(found) >= max_results:
            break
        if not isinstance(item, dict):
            continue
        result = result_from(item.get(title), item.get(url), item.get(snippet))
        if result is not None:
            found.append(result)
    return found
