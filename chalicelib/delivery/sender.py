"""Attempts of deliveries, a queue batch at a time: lease, send, record what happened.

For a batch of messages: one consistent ``BatchGetItem`` reads the deliveries; the due ones are leased
in one transaction (each conditioned on being pending, unleased and unchanged since the read) while
their actions are read beside it (one ``BatchGetItem``), so a
duplicated queue message can never send a delivery twice at the same time, nor again once it
succeeded; the leased ones are sent concurrently; every attempt is recorded (time, status code,
latency, error) in one transaction conditioned on each lease. A failure is retried on the schedule
(``retry``); after the last attempt the delivery is failed and a copy goes to the deliveries DLQ.
A 410 disables the action; a refused target (SSRF) is final. Four requests to DynamoDB per batch, two
of them at once (whole-item conditional puts in the transactions), is what lets one worker send
hundreds a second.
"""
from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import PutError, TransactWriteError

from chalicelib import aws_clients, queues
from chalicelib.db.models import Delivery, PostCallAction, utcnow
from chalicelib.db.transactions import cancellation_codes, transaction
from chalicelib.delivery import records, retry, sealed_urls
from chalicelib.delivery.channels import channel_for
from chalicelib.delivery.contract import AttemptResult, DeliveryRequest, DeliverySettings, SendQuota
from chalicelib.delivery.safe_http import SafeHttp
from chalicelib.domain.rate_limits import DailyEmailQuota
from chalicelib.observability import logger
from chalicelib.secrets_box import secret_box_from_settings

Key = tuple[str, int]  # (call_key, action_id)


@dataclass
class Runtime:
    """What a delivery worker holds for its lifetime: settings, one pooled HTTP client, one SES client, and
    the accounts' allowance of emails (``rate_limits``: counted in DynamoDB)."""

    settings: DeliverySettings
    http: SafeHttp
    ses: Any = None
    email_quota: SendQuota = field(default_factory=DailyEmailQuota)

    @classmethod
    def from_env(cls) -> Runtime:
        settings = DeliverySettings.from_env()
        return cls(settings=settings, http=SafeHttp(allowed_networks=settings.allowed_networks,
                                                   timeout_s=settings.timeout_s),
                   ses=aws_clients.client("ses"))

    @property
    def lease_s(self) -> float:
        return self.settings.timeout_s * 4 + 30  # a request and its redirects, with room to record it


@dataclass
class ActionCache:
    """A batch's actions and their opened credentials, read together in one consistent ``BatchGetItem``
    (many deliveries share an action); an action that no longer exists is ``None``."""

    _items: dict[tuple[int, int, int], tuple[PostCallAction | None, dict[str, Any]]] = field(default_factory=dict)

    def load(self, keys: set[tuple[int, int, int]]) -> None:
        found = {(a.account_id, a.agent_id, a.action_id): a for a in PostCallAction.batch_get(
            [(f"{account_id}#{agent_id}", action_id) for account_id, agent_id, action_id in keys],
            consistent_read=True)}
        for key in keys:
            action = found.get(key)
            opened = (secret_box_from_settings().open(action.sealed_secrets, account_id=key[0])
                      if action is not None and action.sealed_secrets else {})
            self._items[key] = (action, opened)

    def get(self, account_id: int, agent_id: int, action_id: int) -> tuple[PostCallAction | None, dict[str, Any]]:
        return self._items[(account_id, agent_id, action_id)]


@dataclass(frozen=True)
class Verdict:
    """``done``: the message may be deleted; otherwise it comes back after ``retry_in`` seconds."""

    done: bool
    retry_in: float = 0.0
    note: str = ""


@dataclass
class _Attempt:
    item: Delivery
    lease: float
    action: PostCallAction | None = None
    result: AttemptResult | None = None
    status: str = records.PENDING
    outcome: str = ""
    next_at: float | None = None


def message_key(message: dict[str, Any]) -> Key:
    return records.call_key(int(message["account_id"]), int(message["call_id"])), int(message["action_id"])


def deliver(message: dict[str, Any], runtime: Runtime) -> Verdict:
    """One message (replays, tests): the batch path with a batch of one."""
    return deliver_batch([message], runtime)[0]


def deliver_batch(messages: list[dict[str, Any]], runtime: Runtime) -> list[Verdict]:
    """A verdict per message, in order."""
    actions = ActionCache()
    now = time.time()
    keys = [message_key(m) for m in messages]
    verdicts: dict[int, Verdict] = {}
    first_of: dict[Key, int] = {}
    for index, key in enumerate(keys):
        if key in first_of:
            verdicts[index] = Verdict(True, note="duplicate message in the batch")
        else:
            first_of[key] = index
    items = {(d.call_key, d.action_id): d for d in Delivery.batch_get(list(first_of), consistent_read=True)}
    due: list[Key] = []
    for key, index in first_of.items():
        verdict = _before_attempt(items.get(key), now)
        if verdict is None:
            due.append(key)
        else:
            verdicts[index] = verdict
    if not due:
        return [verdicts[i] for i in range(len(messages))]
    with ThreadPoolExecutor(max_workers=min(len(due), 10)) as pool:
        # the actions are read while the lease transaction runs: two round trips in the time of one
        loading = pool.submit(actions.load, {(items[k].account_id, items[k].agent_id, items[k].action_id) for k in due})
        leased = _lease([items[k] for k in due], now + runtime.lease_s, now)
        loading.result()
        for key in due:
            if key not in leased:
                verdicts[first_of[key]] = Verdict(True, note="another worker took it")  # its message carries it on
        attempts = list(leased.values())
        list(pool.map(lambda attempt: _send(attempt, runtime, actions), attempts))
    if attempts:
        _record_all(attempts)
        for key, attempt in leased.items():
            verdicts[first_of[key]] = _after(attempt)
    return [verdicts[i] for i in range(len(messages))]


def _before_attempt(item: Delivery | None, now: float) -> Verdict | None:
    """None when the delivery is due for an attempt; otherwise what to do with its message."""
    if item is None:
        return Verdict(True, note="no such delivery")
    if item.status != records.PENDING:
        return Verdict(True, note=f"already {item.status}")
    if item.lease_until is not None and item.lease_until >= now:
        return Verdict(True, note="another worker holds it")
    if item.next_attempt_at is not None and item.next_attempt_at > now + 0.5:
        return Verdict(False, retry_in=item.next_attempt_at - now, note="not due yet")
    return None


def _lease(items: list[Delivery], lease: float, now: float) -> dict[Key, _Attempt]:
    """Lease ``items`` in one transaction; an item whose condition fails (taken or changed since it was
    read) is left out and the rest leased again, so one contested item never blocks the batch.

    Each item is written whole (a conditional put of what was read, plus the lease): the conditions make
    that safe, and it is far cheaper than update expressions for the embedded DynamoDB."""
    pending = list(items)
    for _ in range(3):
        if not pending:
            return {}
        tx = transaction()
        try:
            with tx:
                for item in pending:
                    count = Delivery.attempt_count == item.attempt_count if item.attempt_count is not None \
                        else Delivery.attempt_count.does_not_exist()
                    condition = ((Delivery.status == records.PENDING) & count
                                 & (Delivery.lease_until.does_not_exist() | (Delivery.lease_until < now)))
                    leased = _copy(item)
                    leased.lease_until = lease
                    tx.save(leased, condition=condition)
        except TransactWriteError as error:
            codes = cancellation_codes(error)
            if "ConditionalCheckFailed" not in codes:
                raise
            pending = [item for item, code in zip(pending, codes, strict=False) if code != "ConditionalCheckFailed"]
            continue
        return {(item.call_key, item.action_id): _Attempt(item, lease) for item in pending}
    return {}


def _copy(item: Delivery) -> Delivery:
    return Delivery.from_raw_data(item.serialize())


def _send(attempt: _Attempt, runtime: Runtime, actions: ActionCache) -> None:
    item = attempt.item
    action, credentials = actions.get(item.account_id, item.agent_id, item.action_id)
    attempt.action = action
    if action is None or not action.config.get("enabled", True):
        attempt.status = attempt.outcome = records.CANCELLED
        why = "the post-call action was deleted" if action is None else "the post-call action is disabled"
        attempt.result = AttemptResult(ok=False, error=why, retryable=False)
        return
    config, credentials = sealed_urls.for_sending(action.config, credentials)  # the real URL, if sealed
    request = DeliveryRequest(event=records.unpack_event(item.event), action_id=item.action_id,
                              action_type=action.type, config=config, credentials=credentials,
                              webhook_id=item.webhook_id, attempt=int(item.attempt_count or 0) + 1,
                              settings=runtime.settings, account_id=int(item.account_id),
                              previous_detail=dict((item.attempts or [{}])[-1].get("detail") or {}))
    attempt.result = send(request, runtime)
    attempt.status, attempt.outcome, attempt.next_at = _judge(attempt.result, int(item.round_attempts or 0) + 1,
                                                               runtime.settings)


def send(request: DeliveryRequest, runtime: Runtime) -> AttemptResult:
    """Send through the channel; a channel bug is a failed (retryable) attempt, never a lost delivery."""
    started = time.monotonic()
    try:
        return channel_for(request.action_type, runtime.http, runtime.ses, runtime.email_quota).send(request)
    except Exception as error:  # recorded on the attempt
        logger.exception("channel raised", extra={"action_type": request.action_type, "action_id": request.action_id})
        return AttemptResult(ok=False, latency_ms=(time.monotonic() - started) * 1000,
                             error=f"internal error: {type(error).__name__}")


def _judge(result: AttemptResult, round_attempts: int, settings: DeliverySettings) -> tuple[str, str, float | None]:
    """(new status, attempt outcome, next attempt time) after an attempt."""
    if result.ok:
        return records.SUCCEEDED, records.SUCCEEDED, None
    if result.refused:
        return records.REFUSED, records.REFUSED, None
    if result.gone:
        return records.GONE, records.GONE, None
    delay = retry.delay_after(round_attempts, settings) if result.retryable else None
    if delay is None:
        return records.FAILED, records.FAILED, None
    delay = max(delay, float(result.detail.get("retry_after_s") or 0))  # a receiver's Retry-After is a floor
    return records.PENDING, "retry", time.time() + delay


def _recorded(attempt: _Attempt) -> Delivery:
    """The delivery as it stands after the attempt (written whole, conditioned on the lease)."""
    item, result = _copy(attempt.item), attempt.result
    assert result is not None
    now = utcnow()
    records.mark_finished(item, attempt.status, time.time())
    item.lease_until, item.updated_at = None, now
    item.last_error, item.next_attempt_at = result.error, attempt.next_at
    if attempt.outcome == records.CANCELLED:
        return item  # nothing was sent: no attempt to record
    number = int(item.attempt_count or 0) + 1
    entry: dict[str, Any] = {"attempt": number, "at": datetime.now(UTC).isoformat(), "outcome": attempt.outcome,
                             "status_code": result.status_code, "latency_ms": round(result.latency_ms, 1),
                             "error": result.error}
    if attempt.next_at is not None:
        entry["next_attempt_at"] = datetime.fromtimestamp(attempt.next_at, UTC).isoformat()
    if result.detail:
        entry["detail"] = result.detail
    item.attempts = (list(item.attempts or []) + [entry])[-records.MAX_RECORDED_ATTEMPTS:]
    item.attempt_count, item.round_attempts = number, int(item.round_attempts or 0) + 1
    if attempt.status == records.SUCCEEDED:
        item.delivered_at = now
    return item


def _record_all(attempts: list[_Attempt]) -> None:
    """Record every attempt in one transaction; if a lease was lost meanwhile, record one by one."""
    tx = transaction()
    try:
        with tx:
            for attempt in attempts:
                tx.save(_recorded(attempt), condition=Delivery.lease_until == attempt.lease)
    except TransactWriteError as error:
        if "ConditionalCheckFailed" not in cancellation_codes(error):
            raise
        for attempt in attempts:
            try:
                _recorded(attempt).save(condition=Delivery.lease_until == attempt.lease)
            except PutError as lost:
                if lost.cause_response_code != "ConditionalCheckFailedException":
                    raise
                logger.warning("delivery lease lost before recording", extra={
                    "call_id": attempt.item.call_id, "action_id": attempt.item.action_id})
    for attempt in attempts:
        result = attempt.result
        assert result is not None
        logger.info("delivery attempt", extra={
            "call_id": attempt.item.call_id, "action_id": attempt.item.action_id, "outcome": attempt.outcome,
            "attempt": int(attempt.item.attempt_count or 0) + 1, "status_code": result.status_code,
            "latency_ms": round(result.latency_ms, 1)})


def _after(attempt: _Attempt) -> Verdict:
    item, result = attempt.item, attempt.result
    assert result is not None
    if attempt.outcome == records.GONE and attempt.action is not None:
        _disable(attempt.action, "the receiver answered 410 Gone")
    if attempt.outcome == records.FAILED:
        queues.send_to_dlq(queues.DELIVERIES, {**records.message(item), "webhook_id": item.webhook_id,
                                               "attempts": int(item.attempt_count or 0) + 1,
                                               "last_error": result.error})
    if attempt.status == records.PENDING:
        return Verdict(False, retry_in=max(0.0, (attempt.next_at or 0) - time.time()), note="retry scheduled")
    return Verdict(True, note=attempt.outcome)


def _disable(action: PostCallAction, why: str) -> None:
    config = {**action.config, "enabled": False, "_disabled_reason": why}
    action.update(actions=[PostCallAction.config.set(config), PostCallAction.updated_at.set(utcnow())])


def retry_in_seconds(verdict: Verdict) -> int:
    """SQS visibility is whole seconds: round up, so a message never comes back before it is due."""
    return max(0, math.ceil(verdict.retry_in))
