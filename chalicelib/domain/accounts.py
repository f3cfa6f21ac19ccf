"""Accounts and their API keys. Keys are shown once, stored only as a SHA-256 digest.

Each stored key may carry its account's *usage key*: the value of the account's API Gateway API key, which
the authorizer hands to API Gateway (``usageIdentifierKey``) so the stage's usage plan throttles the account.
Usage keys are made by whoever issues keys (``cli.accounts`` with the stack's ``UsagePlanId``); the local
stack has no usage plan, so its keys carry none.
"""
from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from pynamodb.connection import Connection
from pynamodb.transactions import TransactWrite

from chalicelib.db.models import Account, ApiKey
from chalicelib.db.sequences import next_id

KEY_PREFIX = "pk_"

UsageKeys = Callable[[int], str]
"""Account id -> the value of the account's API Gateway key (made, and registered with the plan, if new)."""


@dataclass(frozen=True)
class IssuedKey:
    account_id: int
    api_key: str


@dataclass(frozen=True)
class KeyOwner:
    """Who a presented API key belongs to, and the usage key its requests are throttled under."""

    account_id: int
    usage_key: str | None
    key_hash: str = ""  # the key's digest (what monitor tokens name, so disabling the key voids them)


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def create_account(name: str, usage_keys: UsageKeys | None = None) -> IssuedKey:
    """Create an account with one API key; returns the key in clear, the only time it exists."""
    account_id = next_id("account")
    api_key = KEY_PREFIX + secrets.token_urlsafe(32)
    usage_key = usage_keys(account_id) if usage_keys else None
    with TransactWrite(connection=Connection()) as tx:
        tx.save(Account(account_id, name=name), condition=Account.account_id.does_not_exist())
        tx.save(ApiKey(hash_key(api_key), account_id=account_id, prefix=api_key[:7], usage_key=usage_key))
    return IssuedKey(account_id=account_id, api_key=api_key)


def issue_key(account_id: int, name: str = "default", usage_keys: UsageKeys | None = None) -> str:
    Account.get(account_id)
    api_key = KEY_PREFIX + secrets.token_urlsafe(32)
    usage_key = usage_keys(account_id) if usage_keys else None
    ApiKey(hash_key(api_key), account_id=account_id, prefix=api_key[:7], name=name, usage_key=usage_key).save()
    return api_key


def key_owner(api_key: str) -> KeyOwner | None:
    """The account owning ``api_key`` and its usage key, or None. One GetItem by digest."""
    if not api_key or len(api_key) > 256:
        return None
    try:
        found = ApiKey.get(hash_key(api_key))
    except ApiKey.DoesNotExist:
        return None
    if found.disabled:
        return None
    return KeyOwner(account_id=int(found.account_id), usage_key=found.usage_key or None, key_hash=found.key_hash)


def key_enabled(key_hash: str) -> bool:
    """The key with this digest exists and is not disabled (one GetItem)."""
    try:
        return not ApiKey.get(key_hash).disabled
    except ApiKey.DoesNotExist:
        return False


def disable_key(api_key: str) -> int | None:
    """Disable ``api_key`` for good; returns its account, or None when there is no such key."""
    try:
        found = ApiKey.get(hash_key(api_key))
    except ApiKey.DoesNotExist:
        return None
    found.update(actions=[ApiKey.disabled.set(True)])
    return int(found.account_id)


def account_for_key(api_key: str) -> int | None:
    """The account owning ``api_key``, or None."""
    owner = key_owner(api_key)
    return owner.account_id if owner else None


def register_usage_keys(usage_keys: UsageKeys) -> int:
    """Give every stored key that has none its account's usage key; returns how many were updated.

    For keys issued before the stage had a usage plan. It scans the key table: an operator's one-off
    (``python -m cli.accounts register-usage-keys``), never a request path.
    """
    updated = 0
    for key in ApiKey.scan(ApiKey.usage_key.does_not_exist()):
        key.update(actions=[ApiKey.usage_key.set(usage_keys(int(key.account_id)))])
        updated += 1
    return updated
