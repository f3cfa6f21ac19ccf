"""An account's web-search API keys (Tavily, Exa): sealed at rest like every customer secret, never returned.

All of an account's keys live in one sealed blob on its ``Account`` item (``sealed_search_keys``):
``{"Tavily": {"api_key": "...", "updated_at": "..."}, ...}``, sealed for the account (a blob copied to another
account's item does not open) with ``secrets_box.search_secret_box``: in AWS a KMS key of its own, so the streaming
service, which opens these keys for calls, can open no other sealed secret. The API stores, lists (configured or
not, with when) and removes them; the streaming service opens them for a call (:func:`keys_for_call`).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.db.models import Account, utcnow
from chalicelib.domain.errors import NotFound, ValidationFailed
from chalicelib.domain.web_search import KEYED_PROVIDERS, canonical_provider
from chalicelib.secrets_box import search_secret_box


def keyed_provider(name: str) -> str:
    """The canonical name of a provider that takes an API key; ValidationFailed otherwise."""
    canonical = canonical_provider(name)
    if canonical not in KEYED_PROVIDERS:
        needs = "needs no API key" if canonical else "is not a web search provider"
        raise ValidationFailed(f"{name[:64]!r} {needs}; keys are stored for {', '.join(KEYED_PROVIDERS)}",
                               field="provider")
    return canonical


def _account(account_id: int) -> Account:
    try:
        return Account.get(account_id, consistent_read=True)
    except Account.DoesNotExist:
        raise NotFound(f"account {account_id} does not exist") from None


def _opened(account: Account) -> dict[str, Any]:
    if account.sealed_search_keys is None:
        return {}
    return search_secret_box().open(account.sealed_search_keys, account_id=account.account_id)


def _status(provider: str, entry: Any) -> dict[str, Any]:
    updated = entry.get("updated_at") if isinstance(entry, dict) else None
    return {"provider": provider, "configured": isinstance(entry, dict) and bool(entry.get("api_key")),
            "updated_at": datetime.fromisoformat(updated) if updated else None}


def _store(account: Account, keys: dict[str, Any]) -> None:
    sealed = search_secret_box().seal(keys, account_id=account.account_id) if keys else None
    action = Account.sealed_search_keys.set(sealed) if sealed is not None else Account.sealed_search_keys.remove()
    try:
        account.update(actions=[action], condition=Account.account_id.exists())
    except UpdateError:
        raise NotFound(f"account {account.account_id} does not exist") from None


def list_keys(account_id: int) -> list[dict[str, Any]]:
    """One entry per keyed provider: ``{"provider", "configured", "updated_at"}`` (never the key)."""
    keys = _opened(_account(account_id))
    return [_status(provider, keys.get(provider)) for provider in KEYED_PROVIDERS]


def put_key(account_id: int, provider: str, api_key: str) -> dict[str, Any]:
    """Store (or replace) the account's key for ``provider``; answers its status."""
    name = keyed_provider(provider)
    account = _account(account_id)
    keys = _opened(account)
    keys[name] = {"api_key": api_key, "updated_at": utcnow().isoformat()}
    _store(account, keys)
    return _status(name, keys[name])


def delete_key(account_id: int, provider: str) -> dict[str, Any]:
    """Remove the account's key for ``provider`` (fine when there was none); answers its status."""
    name = keyed_provider(provider)
    account = _account(account_id)
    keys = _opened(account)
    if keys.pop(name, None) is not None:
        _store(account, keys)
    return _status(name, None)


def keys_for_call(account_id: int) -> dict[str, str]:
    """``{"Tavily": key, ...}`` for the account's calls (the streaming service: ``provider_for(credentials=...)``).

    An account without keys (or gone) has none: ``{}``. Reads only the sealed keys (the task role may read no
    other attribute of an account)."""
    try:
        account = Account.get(account_id, attributes_to_get=["account_id", "sealed_search_keys"])
    except Account.DoesNotExist:
        return {}
    return {provider: entry["api_key"] for provider, entry in _opened(account).items()
            if provider in KEYED_PROVIDERS and isinstance(entry, dict) and entry.get("api_key")}
