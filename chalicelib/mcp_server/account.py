"""The account an MCP request acts for: set by the bearer-key middleware for the duration of the request.

A context variable rather than global state: each request (and the tasks and worker threads the SDK runs its
tools in, which copy the context) sees its own account, and nothing outlives the request.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_account: ContextVar[int | None] = ContextVar("parley_mcp_account", default=None)


class NoAccount(RuntimeError):
    """A tool ran outside a request the middleware authenticated (a wiring bug, never a caller's mistake)."""


@contextmanager
def acting_for(account_id: int) -> Iterator[None]:
    token = _account.set(account_id)
    try:
        yield
    finally:
        _account.reset(token)


def current_account() -> int:
    account = _account.get()
    if account is None:
        raise NoAccount("no authenticated account for this MCP request")
    return account
