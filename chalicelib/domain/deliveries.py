"""A call's post-call deliveries seen from the API: list with attempts, replay, and test sends.

The endpoints that send now (test event, replays, recover) share one per-account rate limit
(``rate_limits.check_send_now``): beyond it they raise ``RateLimited`` (429 with Retry-After)."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from pynamodb.exceptions import UpdateError

from chalicelib import queues
from chalicelib.db.models import Agent, Call, Delivery, PostCallAction, utcnow
from chalicelib.delivery import records, sealed_urls, sender
from chalicelib.delivery.contract import DeliveryRequest
from chalicelib.delivery.sample import sample_call_completed
from chalicelib.domain import rate_limits
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.post_call_actions import get_action, new_signing_secret
from chalicelib.schemas.deliveries import (
    RECOVER_LIMIT,
    DeliveryList,
    DeliveryOut,
    Recovered,
    RecoverRequest,
    Replayed,
    RotatedSecret,
    TestResult,
)
from chalicelib.secrets_box import secret_box_from_settings

ROTATION_GRACE = timedelta(hours=24)


def _require_call(account_id: int, call_id: int) -> None:
    try:
        Call.get(account_id, call_id, attributes_to_get=["call_id"])
    except Call.DoesNotExist:
        raise NotFound(f"call {call_id} not found", field="call_log_id") from None


def list_deliveries(account_id: int, call_id: int) -> DeliveryList:
    _require_call(account_id, call_id)
    items = [DeliveryOut(**records.to_json(d))
             for d in Delivery.query(records.call_key(account_id, call_id), consistent_read=True)]
    return DeliveryList(deliveries=items, total=len(items))


def _reopen(item: Delivery, only_undelivered: bool = False) -> str | None:
    """Make a finished delivery pending again (a new round of attempts); None when done, else why not.
    ``only_undelivered``: only if it still ended undelivered (the index it was found in lags a little)."""
    condition = Delivery.status != records.PENDING
    if only_undelivered:
        condition &= Delivery.undelivered_key.exists()
    try:
        item.update(actions=[Delivery.status.set(records.PENDING), Delivery.round_attempts.set(0),
                             Delivery.next_attempt_at.remove(), Delivery.lease_until.remove(),
                             Delivery.undelivered_key.remove(), Delivery.finished_at.remove(),
                             Delivery.updated_at.set(utcnow())],
                    condition=condition)
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        return "already pending: it is being delivered" if not only_undelivered else "no longer undelivered"
    return None


def replay(account_id: int, call_id: int, action_id: int | None = None) -> Replayed:
    _require_call(account_id, call_id)
    rate_limits.check_send_now(account_id)
    key = records.call_key(account_id, call_id)
    if action_id is None:
        items = list(Delivery.query(key, consistent_read=True))
    else:
        try:
            items = [Delivery.get(key, action_id, consistent_read=True)]
        except Delivery.DoesNotExist:
            raise NotFound(f"call {call_id} has no delivery for post-call action {action_id}",
                           field="action_id") from None
    reopened, skipped = [], {}
    for item in items:
        why = _reopen(item)
        if why:
            skipped[str(item.action_id)] = why
        else:
            reopened.append(item)
    if reopened:
        queues.send_many(queues.DELIVERIES, [records.message(item) for item in reopened])
    return Replayed(replayed=[item.action_id for item in reopened], skipped=skipped)


def recover(account_id: int, agent_id: int, action_id: int, body: RecoverRequest) -> Recovered:
    """Queue again an action's deliveries that ended undelivered since ``body.since``, oldest first, at most
    ``RECOVER_LIMIT`` per call. A recovered delivery leaves the undelivered index, so calling again with the
    same ``since`` carries on where this call stopped."""
    action = get_action(account_id, agent_id, action_id)
    if not action.config.get("enabled", True):
        raise Conflict(f"post-call action {action_id} is disabled: enable it before recovering its deliveries",
                       field="action_id")
    rate_limits.check_send_now(account_id)
    found = list(Delivery.undelivered_by_action.query(
        records.action_key(account_id, agent_id, action_id), Delivery.finished_at >= body.since.timestamp(),
        limit=RECOVER_LIMIT + 1))
    # the index holds keys only: the call id is in the item's key
    call_ids = [records.call_id_of(item.call_key) for item in found[:RECOVER_LIMIT]
                if _reopen(item, only_undelivered=True) is None]
    if call_ids:
        queues.send_many(queues.DELIVERIES, [records.message_for(account_id, call_id, action_id)
                                             for call_id in call_ids])
    return Recovered(recovered=len(call_ids), call_ids=call_ids, more=len(found) > RECOVER_LIMIT)


def send_test(account_id: int, agent_id: int, action_id: int, runtime: sender.Runtime | None = None) -> TestResult:
    """Deliver a sample ``call.completed`` to the action now and say what happened (nothing is recorded)."""
    action = get_action(account_id, agent_id, action_id)
    rate_limits.check_send_now(account_id)
    agent = Agent.get(account_id, agent_id, attributes_to_get=["name"])
    runtime = runtime or sender.Runtime.from_env()
    event = sample_call_completed(account_id, agent_id, agent.name)
    secrets = (secret_box_from_settings().open(action.sealed_secrets, account_id=account_id)
               if action.sealed_secrets else {})
    config, credentials = sealed_urls.for_sending(action.config, secrets)
    webhook_id = f"msg_test_{uuid.uuid4().hex[:16]}"
    request = DeliveryRequest(event=event, action_id=action_id, action_type=action.type, config=config,
                              credentials=credentials, webhook_id=webhook_id, attempt=1, settings=runtime.settings,
                              is_test=True, account_id=account_id)
    result = sender.send(request, runtime)
    return TestResult(ok=result.ok, webhook_id=webhook_id, status_code=result.status_code,
                      latency_ms=round(result.latency_ms, 1), error=result.error, refused=result.refused,
                      detail=result.detail, event=event)


def rotate_secret(account_id: int, agent_id: int, action_id: int) -> RotatedSecret:
    """A new signing secret; the old one still signs (a second signature) for ``ROTATION_GRACE``."""
    action = get_action(account_id, agent_id, action_id)
    box = secret_box_from_settings()
    current = box.open(action.sealed_secrets, account_id=account_id) if action.sealed_secrets else {}
    if action.type != "webhook" or "signing_secret" not in current:
        raise NotFound(f"post-call action {action_id} is a {action.type} action and has no signing secret",
                       field="action_id")
    expires = datetime.now(UTC).replace(microsecond=0) + ROTATION_GRACE
    secret = new_signing_secret()
    rotated = {**current, "signing_secret": secret, "previous_signing_secret": current["signing_secret"],
               "previous_signing_secret_expires_at": int(expires.timestamp())}
    action.update(actions=[PostCallAction.sealed_secrets.set(box.seal(rotated, account_id=account_id)),
                           PostCallAction.updated_at.set(utcnow())],
                  condition=PostCallAction.action_id.exists())
    return RotatedSecret(id=action_id, signing_secret=secret, previous_secret_expires_at=expires)
