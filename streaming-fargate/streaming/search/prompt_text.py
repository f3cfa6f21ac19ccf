"""Search results as text for the LLM's prompt: numbered, one line each, plain, and within a character budget."""
from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from streaming.search.base import SearchResult
from streaming.search.text import clip, plain

NO_RESULTS = "No results found."
_MIN_SNIPPET = 30  # a line with less room for its snippet than this is not worth its tokens
_PER_RESULT = 160  # fewer results, each with a useful snippet, rather than many cut to nothing


def _site(url: str) -> str:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


def results_for_prompt(results: Sequence[SearchResult], max_chars: int = 1200) -> str:
    """``1. Title: snippet (site)`` lines, best result first, at most ``max_chars`` characters in all.

    Every field is cleaned again (markup and chat-template tokens, control characters, newlines removed), so a
    result cannot add lines or turns to the prompt. The results that fit (about ``_PER_RESULT`` characters each)
    share the budget equally; a snippet is cut at a word with an ellipsis. No results: ``"No results found."``."""
    usable = [r for r in results if plain(r.title, 200) or plain(r.snippet, 200)]
    count = min(len(usable), max(1, max_chars // _PER_RESULT))
    lines: list[str] = []
    used = 0
    for index, result in enumerate(usable[:count]):
        remaining = max_chars - used - (1 if lines else 0)  # the newline before this line
        share = remaining // (count - index)
        title = plain(result.title, min(120, share // 3))  # the snippet gets most of the line
        head = f"{index + 1}. {title}: " if title else f"{index + 1}. "
        site = _site(result.url)
        suffix = f" ({site})" if site and share - len(head) - len(site) - 3 >= _MIN_SNIPPET else ""
        room = share - len(head) - len(suffix)
        if room < _MIN_SNIPPET:
            break
        line = head + (plain(result.snippet, room) or "(no description)") + suffix
        lines.append(line)
        used += len(line) + (1 if index else 0)
    return "\n".join(lines) if lines else clip(NO_RESULTS, max(0, max_chars))
