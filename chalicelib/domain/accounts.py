"""Accounts and their API keys. Keys are shown once, stored only as a SHA-256 digest."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from pynamodb.connection import Connection
from pynamodb.transactions import TransactWrite

from chalicelib.db.models import Account, ApiKey
from chalicelib.db.sequences import next_id

KEY_PREFIX = "pk_"


@dataclass(frozen=True)
class IssuedKey:
    account_id: int
    api_key: str


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def create_account(name: str) -> IssuedKey:
    """Create an account with one API key; returns the key in clear, the only time it exists."""
    account_id = next_id("account")
    api_key = KEY_PREFIX + secrets.token_urlsafe(32)
    with TransactWrite(connection=Connection()) as tx:
        tx.save(Account(account_id, name=name), condition=Account.account_id.does_not_exist())
        tx.save(ApiKey(hash_key(api_key), account_id=account_id, prefix=api_key[:7]))
    return IssuedKey(account_id=account_id, api_key=api_key)


def issue_key(account_id: int, name: str = "default") -> str:
    Account.get(account_id)
    api_key = KEY_PREFIX + secrets.token_urlsafe(32)
    ApiKey(hash_key(api_key), account_id=account_id, prefix=api_key[:7], name=name).save()
    return api_key


def account_for_key(api_key: str) -> int | None:
    """The account owning ``api_key``, or None. One GetItem by digest."""
    if not api_key or len(api_key) > 256:
        return None
    try:
        return int(ApiKey.get(hash_key(api_key)).account_id)
    except ApiKey.DoesNotExist:
        return None
