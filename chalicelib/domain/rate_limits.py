"""Rate limits: fixed-window counters in DynamoDB (``RateCounter``), per account or per another subject.

Each operation is one conditional ``UpdateItem`` that adds 1 to the subject's counter of the current
window unless it already reached the limit; the item expires (TTL) after its window. Concurrent callers
cannot overshoot (the condition and the increment are one atomic write), and nothing is read first.
The subject is an account id, or for the public web-call endpoint a widget key or a client IP address.

Limits (environment, read when used):

======================================  =======  ==============================================================
``PARLEY_SEND_NOW_PER_MINUTE``          30       send-now requests (test event, replays, recover) per account
                                                 a minute
``PARLEY_EMAIL_SENDS_PER_DAY``          500      emails sent by post-call actions per account a UTC day
``PARLEY_WEB_CALLS_PER_KEY_PER_MINUTE`` 20       web calls started with one agent's public (``pub_``) key a
                                                 minute, from every page and visitor together
``PARLEY_WEB_CALLS_PER_IP_PER_MINUTE``  5        public-key web-call requests from one client IP address a
                                                 minute (counted before the key is checked)
======================================  =======  ==============================================================

Web calls started with a secret API key are not limited here (the account's API Gateway usage plan
throttles them like every other authenticated request).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from pynamodb.exceptions import UpdateError

from chalicelib.db.models import RateCounter
from chalicelib.domain.errors import RateLimited

_EXPIRY_GRACE_S = 3600  # counters linger a little past their window (TTL deletion is not instant anyway)


@dataclass(frozen=True)
class Limit:
    """At most ``limit`` operations of ``kind`` per subject (an account, unless ``per`` says otherwise) in each
    ``window_s`` window."""

    kind: str
    limit: int
    window_s: int
    what: str  # how an error names the operations, e.g. "send-now requests"
    per: str = "account"  # how an error names the subject

    def describe(self) -> str:
        per = {60: "a minute", 3600: "an hour", 86400: "a day"}.get(self.window_s, f"per {self.window_s} s")
        return f"{self.limit} {self.what} {per}"


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def send_now_limit() -> Limit:
    return Limit("send-now", _env_int("PARLEY_SEND_NOW_PER_MINUTE", 30), 60, "send-now requests")


def email_limit() -> Limit:
    return Limit("email", _env_int("PARLEY_EMAIL_SENDS_PER_DAY", 500), 86400, "post-call emails")


def web_calls_per_key_limit() -> Limit:
    return Limit("web-calls-key", _env_int("PARLEY_WEB_CALLS_PER_KEY_PER_MINUTE", 20), 60, "web calls",
                 per="public key")


def web_calls_per_ip_limit() -> Limit:
    return Limit("web-calls-ip", _env_int("PARLEY_WEB_CALLS_PER_IP_PER_MINUTE", 5), 60, "web-call requests",
                 per="client address")


def _now() -> float:
    return time.time()


def take(account_id: int | str, limit: Limit, now: float | None = None) -> int | None:
    """Count one operation of ``account_id`` (or of another subject: a key, an address): None when it is
    within ``limit``, otherwise the seconds until the window ends (the operation is not counted)."""
    moment = _now() if now is None else now
    start = int(moment // limit.window_s) * limit.window_s
    end = start + limit.window_s
    counter = RateCounter(f"{limit.kind}#{account_id}#{start}")
    try:
        counter.update(
            actions=[RateCounter.hits.add(1),
                     RateCounter.expires_at.set(datetime.fromtimestamp(end + _EXPIRY_GRACE_S, UTC))],
            condition=RateCounter.hits.does_not_exist() | (RateCounter.hits < limit.limit))
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        return max(1, int(end - moment + 0.999))
    return None


def check(account_id: int | str, limit: Limit) -> None:
    """Count one operation, or raise ``RateLimited`` (with the seconds to wait) when the limit is reached."""
    wait = take(account_id, limit)
    if wait is not None:
        raise RateLimited(f"too many {limit.what}: at most {limit.describe()} per {limit.per}; try again in "
                          f"{wait} s", retry_after=wait)


def check_send_now(account_id: int) -> None:
    """Guard of the endpoints that send now (test event, replays, recover): 429 beyond the limit."""
    check(account_id, send_now_limit())


class DailyEmailQuota:
    """The per-account allowance of post-call emails a UTC day (``delivery.contract.SendQuota``)."""

    def take(self, account_id: int) -> str | None:
        limit = email_limit()
        if take(account_id, limit) is None:
            return None
        return (f"the account reached its limit of {limit.describe()} (it starts again at 00:00 UTC): "
                "this email was not sent and is not retried")
