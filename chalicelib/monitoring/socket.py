"""The monitoring WebSocket API's handlers (``$connect``, ``$default``, ``$disconnect``), behind the Chalice
app's ``on_ws_*`` functions: API Gateway invokes them in AWS, ``devstack``'s stand-in locally.

``$connect`` authenticates (a secret API key in ``Authorization``, a monitor token in ``?token=``, or a
streaming task's ``?task_token=``) and stores the connection; anything else is refused with 401 and the
WebSocket never opens. ``$default`` applies subscribe / unsubscribe / ping (docs/monitoring.md).
"""
from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from chalicelib.db.models import Call, Campaign, MonitorConnection
from chalicelib.domain.accounts import key_enabled, key_owner
from chalicelib.monitoring import events, sender, tokens
from chalicelib.monitoring.snapshot import snapshot
from chalicelib.monitoring.subscriptions import BadMessage, Subscription, apply, parse
from chalicelib.monitoring.watchers import TASKS_ACCOUNT, task_links
from chalicelib.observability import logger
from chalicelib.telephony import stream_tokens

CONNECTION_TTL_S = 2 * 3600 + 600  # API Gateway closes a connection after 2 hours
REFUSED = {"statusCode": 401, "headers": {"Content-Type": "application/json"},
           "body": '{"error": "unauthorized", "error_description": "a valid API key (Authorization: Bearer) or '
                   'monitor token (?token=) is required"}'}
ACCEPTED = {"statusCode": 200}


def _header(event: dict[str, Any], name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return str(value)
    return None


def _bearer(value: str | None) -> str | None:
    scheme, _, token = (value or "").strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def on_connect(event: dict[str, Any]) -> dict[str, Any]:
    connection_id = event["requestContext"]["connectionId"]
    query = event.get("queryStringParameters") or {}
    secret = stream_tokens.configured_secret()
    kind, task_id, account_id = "watcher", None, None
    if query.get("task_token"):
        task_id = tokens.verify_task_token(secret, query["task_token"])
        kind, account_id = "task", TASKS_ACCOUNT if task_id else None
    elif (bearer := _bearer(_header(event, "authorization"))) is not None:
        owner = key_owner(bearer)
        account_id = owner.account_id if owner else None
    elif query.get("token"):
        claims = tokens.verify_monitor_token(secret, query["token"])
        if claims is not None and key_enabled(claims.key_hash):
            account_id = claims.account_id
    if account_id is None:
        logger.info("monitoring: connect refused")
        return REFUSED
    MonitorConnection(connection_id, account_id=account_id, kind=kind, task_id=task_id,
                      expires_at=timedelta(seconds=CONNECTION_TTL_S)).save()
    logger.info("monitoring: connected", extra={"kind": kind, "account_id": account_id})
    return ACCEPTED


def on_disconnect(event: dict[str, Any]) -> dict[str, Any]:
    sender.forget(event["requestContext"]["connectionId"])
    return ACCEPTED


def on_message(event: dict[str, Any]) -> dict[str, Any]:
    connection_id = event["requestContext"]["connectionId"]
    client = sender.management_client()
    if client is None:
        return ACCEPTED
    try:
        connection = MonitorConnection.get(connection_id, consistent_read=True)
    except MonitorConnection.DoesNotExist:
        return ACCEPTED  # closed meanwhile
    if connection.kind != "watcher":
        return ACCEPTED
    try:
        reply = _apply(connection, event.get("body"))
    except BadMessage as error:
        reply = [events.error_event("invalid_message", str(error))]
    except _NotFound as error:
        reply = [events.error_event("not_found", str(error))]
    sender.post(client, connection_id, reply)
    if reply and reply[0]["type"] == "snapshot":
        ring_tasks(client, connection.account_id)
    return ACCEPTED


class _NotFound(Exception):
    pass


def _apply(connection: MonitorConnection, body: str | None) -> list[dict[str, Any]]:
    message = parse(body)
    if message.action == "ping":
        return [events.pong_event()]
    account_id = connection.account_id
    if message.action == "subscribe":
        _check_exists(account_id, message.call_id, message.bulk_call_id)
    subscription = apply(Subscription.from_json(connection.subscription), message)
    connection.update(actions=[MonitorConnection.subscription.set(subscription.to_json()),
                               MonitorConnection.subscribed_at.set(time.time())])
    if message.action == "unsubscribe":
        return []
    return [snapshot(account_id, subscription)]


def _check_exists(account_id: int, call_id: int | None, bulk_call_id: int | None) -> None:
    try:
        if call_id is not None:
            Call.get(account_id, call_id, attributes_to_get=["call_id"])
        if bulk_call_id is not None:
            Campaign.get(account_id, bulk_call_id, attributes_to_get=["bulk_call_id"])
    except (Call.DoesNotExist, Campaign.DoesNotExist):
        what = f"call {call_id}" if call_id is not None else f"campaign {bulk_call_id}"
        raise _NotFound(f"no {what} in this account") from None


def ring_tasks(client: Any, account_id: int) -> None:
    """Tell every streaming task that the account's watchers changed (they reload them and catch the new
    watcher up from their recent events)."""
    note = {"type": "watchers", "account_id": account_id}
    for connection_id in task_links().values():
        try:
            sender.post(client, connection_id, [note])
        except Exception:  # a task missing this note reloads its watchers within a minute anyway
            logger.warning("monitoring: a task was not rung", extra={"connection_id": connection_id}, exc_info=True)
