"""Paging over DynamoDB queries: bounded ``pageno``/``pagesize`` windows, opaque cursors, bounded totals.

``pageno``/``pagesize`` (the SDK's parameters) skip through a query's results, so their depth is bounded
(``MAX_DEPTH`` items, checked by ``chalicelib.schemas.common.Page``); lists that grow without bound (call
logs) also take a cursor. Totals are counted, not maintained, and the counting stops at ``TOTAL_CAP``
matching items (or after reading ``SCAN_CAP`` items when a filter discards most of them): a list's
``total_records`` is exact below the cap and equals the cap beyond it.
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, Protocol, TypeVar

from pynamodb.pagination import ResultIterator

T = TypeVar("T")

MAX_DEPTH = 10_000
"""``pageno * pagesize`` may not pass this: each page is found by reading the ones before it."""
TOTAL_CAP = MAX_DEPTH
"""Totals count at most this many matching items (as deep as ``pageno`` can reach)."""
SCAN_CAP = 10 * MAX_DEPTH
"""...and read at most this many items while counting (a filter may discard most of what is read)."""
_CURSOR_PREFIX = "parley.v1:"


class PageRequest(Protocol):
    @property
    def pageno(self) -> int: ...

    @property
    def pagesize(self) -> int: ...


@dataclass(frozen=True)
class Total:
    count: int
    capped: bool
    """True when counting stopped at a cap: there are at least ``count`` items."""


def window(results: Iterable[T], skip: int, take: int) -> list[T]:
    """Items ``skip`` to ``skip + take`` of ``results`` (read lazily, nothing past them)."""
    return list(islice(results, skip, skip + take))


def page_of(results: Iterable[T], page: PageRequest) -> list[T]:
    return window(results, (page.pageno - 1) * page.pagesize, page.pagesize)


def bounded_total(results: ResultIterator[Any]) -> Total:
    """Count what a query matches, page by page, stopping at ``TOTAL_CAP`` matches or ``SCAN_CAP`` reads.

    ``results`` is an unstarted ``Model.query(...)`` (give it ``attributes_to_get`` with the key attributes,
    so the pages carry little); its pages are read directly, without building items.
    """
    matched = scanned = 0
    pages: Iterator[dict[str, Any]] = iter(results.page_iter)
    for raw in pages:
        matched += int(raw.get("Count", 0))
        scanned += int(raw.get("ScannedCount", raw.get("Count", 0)))
        if matched >= TOTAL_CAP or scanned >= SCAN_CAP:
            more = matched > TOTAL_CAP or bool(raw.get("LastEvaluatedKey"))
            return Total(min(matched, TOTAL_CAP), capped=more)
    return Total(matched, capped=False)


def encode_cursor(position: int) -> str:
    """An opaque cursor for a list position (today the last item's id; clients must not rely on that)."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int | None:
    """The position a cursor from ``encode_cursor`` holds, or None when it is not one."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    digits = text.removeprefix(_CURSOR_PREFIX)
    if digits == text or not digits.isdigit() or len(digits) > 16:
        return None
    return int(digits)
