"""``pageno``/``pagesize`` over a DynamoDB result iterator."""
from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from chalicelib.schemas.common import Page

T = TypeVar("T")


def page_of(results: Iterable[T], page: Page) -> list[T]:
    skip = (page.pageno - 1) * page.pagesize
    out: list[T] = []
    for index, item in enumerate(results):
        if index < skip:
            continue
        out.append(item)
        if len(out) == page.pagesize:
            break
    return out
