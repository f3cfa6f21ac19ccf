"""An agent's web-widget public key: issued, rotated, resolved.

A public key (``pub_`` + 192 random bits, URL-safe) is what a web page embeds to start calls with the
agent (``chalicelib.domain.web_calls``). It lives in two places, always written together in one
transaction: the agent's ``public_key`` (what the API shows) and a ``WidgetKey`` item keyed by the key
(what resolves a presented key to its account and agent in one GetItem). Rotating replaces both and
deletes the old ``WidgetKey``, so the old key stops working at once; deleting the agent deletes its key.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from pynamodb.exceptions import TransactWriteError

from chalicelib.db.models import Agent, WidgetKey, utcnow
from chalicelib.db.transactions import Transaction, transaction
from chalicelib.domain.errors import Conflict, NotFound

PUBLIC_KEY_PREFIX = "pub_"
_KEY_BYTES = 24  # 192 bits
MAX_PUBLIC_KEY_LENGTH = 64


@dataclass(frozen=True)
class WidgetOwner:
    account_id: int
    agent_id: int


def new_public_key() -> str:
    return PUBLIC_KEY_PREFIX + secrets.token_urlsafe(_KEY_BYTES)


def is_public_key(token: str) -> bool:
    return token.startswith(PUBLIC_KEY_PREFIX)


def resolve(public_key: str) -> WidgetOwner | None:
    """The account and agent ``public_key`` belongs to, or None. One GetItem."""
    if not is_public_key(public_key) or len(public_key) > MAX_PUBLIC_KEY_LENGTH or not public_key.isascii():
        return None
    try:
        found = WidgetKey.get(public_key, consistent_read=True)
    except WidgetKey.DoesNotExist:
        return None
    return WidgetOwner(account_id=int(found.account_id), agent_id=int(found.agent_id))


def add_key(tx: Transaction, account_id: int, agent_id: int, public_key: str) -> None:
    """Add, to ``tx``, the ``WidgetKey`` item of a key the agent is given in the same transaction."""
    tx.save(WidgetKey(public_key, account_id=account_id, agent_id=agent_id),
            condition=WidgetKey.public_key.does_not_exist())


def remove_key(tx: Transaction, public_key: str | None) -> None:
    """Delete, in ``tx``, the ``WidgetKey`` item of a key the agent stops holding in the same transaction."""
    if public_key:
        tx.delete(WidgetKey(public_key))


def rotate(account_id: int, agent_id: int) -> Agent:
    """Give the agent a new public key (its first, when it has none); the old one stops working at once."""
    try:
        agent = Agent.get(account_id, agent_id, consistent_read=True)
    except Agent.DoesNotExist:
        raise NotFound(f"agent {agent_id} not found", field="agent_id") from None
    old, new = agent.public_key, new_public_key()
    held = Agent.public_key == old if old else Agent.public_key.does_not_exist()
    try:
        with transaction() as tx:
            tx.update(agent, actions=[Agent.public_key.set(new), Agent.updated_at.set(utcnow())],
                      condition=Agent.agent_id.exists() & held)
            remove_key(tx, old)
            add_key(tx, account_id, agent_id, new)
    except TransactWriteError:
        raise Conflict("the agent changed while its key was being rotated; try again") from None
    return Agent.get(account_id, agent_id, consistent_read=True)
