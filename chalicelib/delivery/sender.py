"""One attempt of one delivery: lease it, send it through its channel, record what happened.

The attempt is leased with one conditional update (pending, not leased by another worker, due), so a
duplicated queue message can never send a delivery twice at the same time, and never again once it
succeeded. Every attempt is appended to the delivery with its time, status code, latency and error.
A failure is retried on the schedule (``retry``); after the last attempt the delivery is failed and a
copy goes to the deliveries DLQ. A 410 disables the action; a refused target (SSRF) is final.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib import queues
from chalicelib.db.models import Delivery, PostCallAction, utcnow
from chalicelib.delivery import records, retry
from chalicelib.delivery.channels import channel_for
from chalicelib.delivery.contract import AttemptResult, DeliveryRequest, DeliverySettings
from chalicelib.delivery.safe_http import SafeHttp
from chalicelib.observability import logger
from chalicelib.secrets_box import secret_box_from_settings


@dataclass
class Runtime:
    """What a delivery worker holds for its lifetime: settings, one pooled HTTP client, one SES client."""

    settings: DeliverySettings
    http: SafeHttp
    ses: Any = None

    @classmethod
    def from_env(cls) -> Runtime:
        import boto3

        settings = DeliverySettings.from_env()
        return cls(settings=settings, http=SafeHttp(allowed_networks=settings.allowed_networks,
                                                   timeout_s=settings.timeout_s),
                   ses=boto3.session.Session().client("ses"))

    @property
    def lease_s(self) -> float:
        return self.settings.timeout_s * 4 + 30  # a request and its redirects, with room to record it


@dataclass
class ActionCache:
    """Actions and their opened credentials, looked up once per batch (many deliveries share an action)."""

    _items: dict[tuple[int, int, int], tuple[PostCallAction | None, dict[str, Any]]] = field(default_factory=dict)

    def get(self, account_id: int, agent_id: int, action_id: int) -> tuple[PostCallAction | None, dict[str, Any]]:
        key = (account_id, agent_id, action_id)
        if key not in self._items:
            try:
                action = PostCallAction.get(f"{account_id}#{agent_id}", action_id, consistent_read=True)
            except PostCallAction.DoesNotExist:
                self._items[key] = (None, {})
            else:
                opened = (secret_box_from_settings().open(action.sealed_secrets, account_id=account_id)
                          if action.sealed_secrets else {})
                self._items[key] = (action, opened)
        return self._items[key]


@dataclass(frozen=True)
class Verdict:
    """``done``: the message may be deleted; otherwise it comes back after ``retry_in`` seconds."""

    done: bool
    retry_in: float = 0.0
    note: str = ""


def deliver(message: dict[str, Any], runtime: Runtime, actions: ActionCache | None = None) -> Verdict:
    account_id, call_id, action_id = int(message["account_id"]), int(message["call_id"]), int(message["action_id"])
    key = records.call_key(account_id, call_id)
    now = time.time()
    lease = now + runtime.lease_s
    item = Delivery(key, action_id)
    try:
        item.update(actions=[Delivery.lease_until.set(lease)],
                    condition=(Delivery.status == records.PENDING)
                    & (Delivery.lease_until.does_not_exist() | (Delivery.lease_until < now))
                    & (Delivery.next_attempt_at.does_not_exist() | (Delivery.next_attempt_at <= now + 0.5)))
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        return _not_leased(key, action_id, now)
    action, credentials = (actions or ActionCache()).get(account_id, item.agent_id, action_id)
    if action is None or not action.config.get("enabled", True):
        why = "the post-call action was deleted" if action is None else "the post-call action is disabled"
        _finish(item, lease, records.CANCELLED, None, why)
        return Verdict(True, note=why)
    attempt = int(item.attempt_count or 0) + 1
    request = DeliveryRequest(event=records.unpack_event(item.event), action_id=action_id, action_type=action.type,
                              config=dict(action.config), credentials=credentials, webhook_id=item.webhook_id,
                              attempt=attempt, settings=runtime.settings,
                              previous_detail=dict((item.attempts or [{}])[-1].get("detail") or {}))
    result = send(request, runtime)
    return _record(item, lease, attempt, result, action, runtime)


def send(request: DeliveryRequest, runtime: Runtime) -> AttemptResult:
    """Send through the channel; a channel bug is a failed (retryable) attempt, never a lost delivery."""
    started = time.monotonic()
    try:
        return channel_for(request.action_type, runtime.http, runtime.ses).send(request)
    except Exception as error:  # noqa: BLE001 - recorded on the attempt
        logger.exception("channel raised", extra={"action_type": request.action_type, "action_id": request.action_id})
        return AttemptResult(ok=False, latency_ms=(time.monotonic() - started) * 1000,
                             error=f"internal error: {type(error).__name__}")


def _not_leased(key: str, action_id: int, now: float) -> Verdict:
    try:
        item = Delivery.get(key, action_id, consistent_read=True,
                            attributes_to_get=["status", "lease_until", "next_attempt_at"])
    except Delivery.DoesNotExist:
        return Verdict(True, note="no such delivery")
    if item.status != records.PENDING:
        return Verdict(True, note=f"already {item.status}")
    if item.lease_until is not None and item.lease_until >= now:
        return Verdict(True, note="another worker holds it")  # that worker's message carries it on
    return Verdict(False, retry_in=max(1.0, float(item.next_attempt_at or now) - now), note="not due yet")


def _attempt_entry(attempt: int, result: AttemptResult, outcome: str, next_at: float | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"attempt": attempt, "at": datetime.now(UTC).isoformat(), "outcome": outcome,
                             "status_code": result.status_code, "latency_ms": round(result.latency_ms, 1),
                             "error": result.error}
    if next_at is not None:
        entry["next_attempt_at"] = datetime.fromtimestamp(next_at, UTC).isoformat()
    if result.detail:
        entry["detail"] = result.detail
    return entry


def _record(item: Delivery, lease: float, attempt: int, result: AttemptResult, action: PostCallAction,
            runtime: Runtime) -> Verdict:
    round_attempts = int(item.round_attempts or 0) + 1
    next_at: float | None = None
    if result.ok:
        outcome = records.SUCCEEDED
    elif result.refused:
        outcome = records.REFUSED
    elif result.gone:
        outcome = records.GONE
    elif not result.retryable:
        outcome = records.FAILED
    else:
        delay = retry.delay_after(round_attempts, runtime.settings)
        if delay is not None:  # a receiver's Retry-After (Slack, HubSpot 429s) is a floor
            delay = max(delay, float(result.detail.get("retry_after_s") or 0))
        if delay is None:
            outcome = records.FAILED
        else:
            outcome, next_at = "retry", time.time() + delay
    status = records.PENDING if outcome == "retry" else outcome
    entry = _attempt_entry(attempt, result, outcome, next_at)
    attempts = (list(item.attempts or []) + [entry])[-records.MAX_RECORDED_ATTEMPTS:]
    _finish(item, lease, status, result.error, None, attempts=attempts, attempt_count=attempt,
            round_attempts=round_attempts, next_at=next_at)
    logger.info("delivery attempt", extra={"call_id": item.call_id, "action_id": item.action_id, "attempt": attempt,
                                           "outcome": outcome, "status_code": result.status_code,
                                           "latency_ms": round(result.latency_ms, 1)})
    if outcome == records.GONE:
        _disable(action, "the receiver answered 410 Gone")
    if outcome == records.FAILED:
        queues.send_to_dlq(queues.DELIVERIES, {**records.message(item), "webhook_id": item.webhook_id,
                                               "attempts": attempt, "last_error": result.error})
    if status == records.PENDING:
        return Verdict(False, retry_in=max(0.0, (next_at or 0) - time.time()), note="retry scheduled")
    return Verdict(True, note=outcome)


def _finish(item: Delivery, lease: float, status: str, error: str | None, note: str | None, *,
            attempts: list[dict[str, Any]] | None = None, attempt_count: int | None = None,
            round_attempts: int | None = None, next_at: float | None = None) -> None:
    now = utcnow()
    actions = [Delivery.status.set(status), Delivery.lease_until.remove(), Delivery.updated_at.set(now),
               Delivery.last_error.set(error or note) if (error or note) else Delivery.last_error.remove()]
    if attempts is not None:
        actions += [Delivery.attempts.set(attempts), Delivery.attempt_count.set(attempt_count),
                    Delivery.round_attempts.set(round_attempts)]
    actions.append(Delivery.next_attempt_at.set(next_at) if next_at is not None else Delivery.next_attempt_at.remove())
    if status == records.SUCCEEDED:
        actions.append(Delivery.delivered_at.set(now))
    try:
        item.update(actions=actions, condition=Delivery.lease_until == lease)
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        logger.warning("delivery lease lost before recording", extra={"call_id": item.call_id,
                                                                        "action_id": item.action_id})


def _disable(action: PostCallAction, why: str) -> None:
    config = {**action.config, "enabled": False, "_disabled_reason": why}
    action.update(actions=[PostCallAction.config.set(config), PostCallAction.updated_at.set(utcnow())])


def retry_in_seconds(verdict: Verdict) -> int:
    """SQS visibility is whole seconds: round up, so a message never comes back before it is due."""
    return max(0, math.ceil(verdict.retry_in))
