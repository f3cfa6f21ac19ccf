"""Opened carrier auth tokens, kept briefly per number so checking a callback's signature costs no KMS call.

A Twilio status callback is checked with its number's auth token, which is sealed at rest (a KMS Decrypt
in AWS). Without a cache, a flood of forged callbacks would cost one Decrypt each (KMS throttles, and
bills, per request). Entries are keyed by number and remember a digest of the sealed blob they were
opened from: a number imported again with a new token has a new blob and is opened again at once, so
the cache never checks a signature with a stale token. Entries live ``ttl_seconds`` (60 s) and at most
``max_entries`` are kept (least recently used go first); the cache is per process and thread-safe.
"""
from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from chalicelib.secrets_box import secret_box_from_settings

DEFAULT_TTL_SECONDS = 60.0
DEFAULT_MAX_ENTRIES = 1024


@dataclass(frozen=True)
class _Entry:
    blob_digest: bytes
    token: str
    expires_at: float


class OpenedTokens:
    """A small TTL + LRU cache of opened tokens, keyed by number."""

    def __init__(self, ttl_seconds: float = DEFAULT_TTL_SECONDS, max_entries: int = DEFAULT_MAX_ENTRIES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, sealed: bytes, open_token: Callable[[], str]) -> str:
        """The token sealed in ``sealed`` for ``key``: from the cache, else ``open_token()`` (then cached)."""
        digest = hashlib.sha256(sealed).digest()
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.blob_digest == digest and entry.expires_at > now:
                self._entries.move_to_end(key)
                return entry.token
        token = open_token()
        with self._lock:
            self._entries[key] = _Entry(digest, token, now + self._ttl)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return token


PROCESS_TOKENS = OpenedTokens()
"""The process's cache (each Lambda instance has its own; nothing is shared or persisted)."""


def twilio_auth_token(account_id: int, phone_number_id: int, sealed: bytes | None,
                      tokens: OpenedTokens | None = None) -> str:
    """The number's Twilio auth token ("" when it has none), opened at most once per TTL and sealed blob."""
    if not sealed:
        return ""

    def open_token() -> str:
        opened = secret_box_from_settings().open(sealed, account_id=account_id)
        return str(opened.get("auth_token", ""))

    return (tokens if tokens is not None else PROCESS_TOKENS).get((account_id, phone_number_id), sealed, open_token)
