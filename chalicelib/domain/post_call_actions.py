"""Post-call actions of an agent: where a finished call's results are delivered.

Secrets are sealed (``secrets_box``) and never returned: channel credentials, webhook signing secrets, and
target URLs that are secrets themselves (Slack webhook URLs, URLs with ``user:pass@``; see
``delivery.sealed_urls``), whose config and API form is masked."""
from __future__ import annotations

import base64
import secrets
from typing import Any

from pydantic import ValidationError
from pynamodb.exceptions import DeleteError, TransactWriteError, UpdateError

from chalicelib.db.models import Agent, PostCallAction, utcnow
from chalicelib.db.sequences import next_id
from chalicelib.db.transactions import failed_tables, transaction
from chalicelib.delivery import sealed_urls
from chalicelib.domain import idempotency
from chalicelib.domain.errors import Conflict, NotFound, ValidationFailed
from chalicelib.schemas.post_call_actions import (
    DEFAULT_TRIGGER_STATUSES,
    ActionCreate,
    ActionCreated,
    ActionList,
    ActionOut,
    ActionUpdate,
    SigningSecret,
    check_channel,
)
from chalicelib.secrets_box import secret_box_from_settings

MAX_ACTIONS_PER_AGENT = 20
_SIGNING_KEYS = ("signing_secret", "previous_signing_secret", "previous_signing_secret_expires_at")
_RESERVED_KEYS = (*_SIGNING_KEYS, sealed_urls.SEALED_KEY)  # sealed beside the channel credentials
_STORED_FIELDS = ("enabled", "name", "url", "recipients", "include", "extracted_variables",
                  "trigger_call_statuses", "payload_template")


def _agent_key(account_id: int, agent_id: int) -> str:
    return f"{account_id}#{agent_id}"


def new_signing_secret() -> str:
    """``whsec_`` + standard base64 of 32 random bytes: the format Standard Webhooks libraries decode
    (URL-safe base64 would lose its ``-``/``_`` characters in their decoder and never verify)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def build(account_id: int, agent_id: int, body: ActionCreate) -> tuple[PostCallAction, str | None]:
    """A new, unsaved action item and, for webhooks, its signing secret."""
    config = body.model_dump(include=set(_STORED_FIELDS), exclude_none=True)
    config.setdefault("enabled", True)
    config.setdefault("trigger_call_statuses", list(DEFAULT_TRIGGER_STATUSES))
    config["_has_credentials"] = bool(body.credentials)
    sealed: dict[str, Any] = {k: v for k, v in (body.credentials or {}).items() if k not in _RESERVED_KEYS}
    signing_secret = new_signing_secret() if body.type == "webhook" else None
    if signing_secret:
        sealed["signing_secret"] = signing_secret
    if sealed_urls.is_secret(body.type, body.url):
        sealed[sealed_urls.SEALED_KEY] = body.url
        config["url"] = sealed_urls.masked(body.type, body.url)
    item = PostCallAction(
        _agent_key(account_id, agent_id), next_id("post_call_action"), account_id=account_id,
        agent_id=agent_id, type=body.type, config=config,
        sealed_secrets=secret_box_from_settings().seal(sealed, account_id=account_id) if sealed else None,
    )
    return item, signing_secret


def to_out(item: PostCallAction) -> ActionOut:
    shown = {k: v for k, v in item.config.items() if not k.startswith("_")}
    if "url" in shown:  # masked already, unless stored before URLs were sealed
        shown["url"] = sealed_urls.masked(item.type, shown["url"])
    return ActionOut(id=item.action_id, agent_id=item.agent_id, type=item.type,
                     has_credentials=bool(item.config.get("_has_credentials")),
                     created_at=item.created_at, updated_at=item.updated_at, **shown)


def _require_agent(account_id: int, agent_id: int) -> None:
    try:
        Agent.get(account_id, agent_id, attributes_to_get=["agent_id"])
    except Agent.DoesNotExist:
        raise NotFound(f"agent {agent_id} not found", field="agent_id") from None


def get_action(account_id: int, agent_id: int, action_id: int) -> PostCallAction:
    try:
        return PostCallAction.get(_agent_key(account_id, agent_id), action_id)
    except PostCallAction.DoesNotExist:
        raise NotFound(f"post-call action {action_id} not found for agent {agent_id}", field="action_id") from None


def list_actions(account_id: int, agent_id: int) -> ActionList:
    _require_agent(account_id, agent_id)
    items = [to_out(i) for i in PostCallAction.query(_agent_key(account_id, agent_id))]
    return ActionList(post_call_actions=items, total=len(items))


def add_action(account_id: int, agent_id: int, body: ActionCreate,
               idempotency_key: str | None, raw_body: Any) -> tuple[ActionCreated, int]:
    _require_agent(account_id, agent_id)
    body_hash = idempotency.request_hash(raw_body)
    scope = f"post-call-action:{agent_id}"
    if idempotency_key is not None:
        idempotency.check_key(idempotency_key)
        replay = idempotency.find(account_id, scope, idempotency_key, body_hash)
        if replay:
            return _replayed(account_id, agent_id, replay.response["action_id"]), 200
    if PostCallAction.count(_agent_key(account_id, agent_id)) >= MAX_ACTIONS_PER_AGENT:
        raise Conflict(f"an agent can have at most {MAX_ACTIONS_PER_AGENT} post-call actions")
    item, secret = build(account_id, agent_id, body)
    tx = transaction()
    try:
        with tx:
            tx.condition_check(Agent, account_id, agent_id, condition=Agent.agent_id.exists())
            tx.save(item, condition=PostCallAction.action_id.does_not_exist())
            if idempotency_key is not None:
                tx.save(idempotency.new_record(account_id, scope, idempotency_key, body_hash,
                                               {"action_id": item.action_id}, 201),
                        condition=idempotency.IdempotencyRecord.key.does_not_exist())
    except TransactWriteError as error:
        failed = failed_tables(tx, error)
        if Agent.Meta.table_name in failed:
            raise NotFound(f"agent {agent_id} not found", field="agent_id") from None
        if idempotency_key is not None and idempotency.IdempotencyRecord.Meta.table_name in failed:
            # A concurrent request with the same key won the race: answer as it did.
            replay = idempotency.find(account_id, scope, idempotency_key, body_hash)
            if replay:
                return _replayed(account_id, agent_id, replay.response["action_id"]), 200
        raise
    return ActionCreated(**to_out(item).model_dump(), signing_secret=secret), 201


def _replayed(account_id: int, agent_id: int, action_id: int) -> ActionCreated:
    item = get_action(account_id, agent_id, action_id)
    return ActionCreated(**to_out(item).model_dump(), signing_secret=signing_secret(item))


def signing_secret(item: PostCallAction) -> str | None:
    if item.sealed_secrets is None:
        return None
    return secret_box_from_settings().open(item.sealed_secrets, account_id=item.account_id).get("signing_secret")


def update_action(account_id: int, agent_id: int, action_id: int, body: ActionUpdate) -> ActionOut:
    item = get_action(account_id, agent_id, action_id)
    if body.type is not None and body.type != item.type:
        raise ValidationFailed(f"the type of a post-call action cannot change (it is {item.type}); "
                               "delete it and add a new one", field="type")
    changes = body.model_dump(include=set(_STORED_FIELDS), exclude_unset=True)
    if any(v is None for v in changes.values()):
        field = next(k for k, v in changes.items() if v is None)
        raise ValidationFailed(f"{field} cannot be null", field=field)
    box = secret_box_from_settings()
    current = box.open(item.sealed_secrets, account_id=account_id) if item.sealed_secrets else {}
    if "url" in changes and changes["url"] == sealed_urls.masked(item.type, item.config.get("url")):
        del changes["url"]  # the masked URL the API showed, sent back: the URL is unchanged
    url = changes.get("url", current.get(sealed_urls.SEALED_KEY) or item.config.get("url"))
    merged_config = {**item.config, **changes}
    credentials = {k: v for k, v in current.items() if k not in _RESERVED_KEYS}
    if body.credentials is not None:
        credentials = {k: v for k, v in body.credentials.items() if k not in _RESERVED_KEYS}
    try:
        merged = ActionUpdate(**{k: v for k, v in merged_config.items() if not k.startswith("_") and k != "url"},
                              url=url, credentials=credentials or None)
        check_channel(item.type, merged)
    except ValidationError as error:  # e.g. a stored value that today's rules refuse
        first = error.errors()[0]
        raise ValidationFailed(first["msg"].removeprefix("Value error, "),
                               field=".".join(str(part) for part in first["loc"]) or None) from None
    except ValueError as error:
        raise ValidationFailed(str(error)) from None
    secrets = {**{k: v for k, v in current.items() if k in _SIGNING_KEYS}, **credentials}
    if sealed_urls.is_secret(item.type, url):  # also seals a URL stored in the clear before URLs were sealed
        secrets[sealed_urls.SEALED_KEY] = url
        merged_config["url"] = sealed_urls.masked(item.type, url)
    elif url is not None:
        merged_config["url"] = url
    if body.credentials is not None:
        merged_config["_has_credentials"] = bool(credentials)
    sealed: bytes | None = item.sealed_secrets
    if secrets != current:
        sealed = box.seal(secrets, account_id=account_id) if secrets else None
    try:
        item.update(actions=[PostCallAction.config.set(merged_config),
                             PostCallAction.sealed_secrets.set(sealed) if sealed is not None
                             else PostCallAction.sealed_secrets.remove(),
                             PostCallAction.updated_at.set(utcnow())],
                    condition=PostCallAction.action_id.exists())
    except UpdateError:
        raise NotFound(f"post-call action {action_id} not found", field="action_id") from None
    return to_out(item)


def delete_action(account_id: int, agent_id: int, action_id: int) -> None:
    item = get_action(account_id, agent_id, action_id)
    try:
        item.delete(condition=PostCallAction.action_id.exists())
    except DeleteError:
        raise NotFound(f"post-call action {action_id} not found", field="action_id") from None


def signing_secret_of(account_id: int, agent_id: int, action_id: int) -> SigningSecret:
    item = get_action(account_id, agent_id, action_id)
    secret = signing_secret(item)
    if secret is None:
        raise NotFound(f"post-call action {action_id} is a {item.type} action and has no signing secret",
                       field="action_id")
    return SigningSecret(id=action_id, signing_secret=secret)
