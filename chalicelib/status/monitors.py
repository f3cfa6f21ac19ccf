"""The status monitors: one small check per part of Parley, each bounded by a timeout and never raising.

A check returns ``CheckResult(status, ping_ms, msg)`` with Uptime Kuma's status codes. ``msg`` is public (the
heartbeat endpoint serves it): it is one of a few fixed phrases and numbers, never an exception's text, a URL,
a host or a key.
"""
from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Any

import requests

from chalicelib import aws_clients, queues
from chalicelib.observability import logger
from chalicelib.status import credentials
from chalicelib.status.timeouts import CHECK_TIMEOUT_S, PROBE_AWS_CONFIG

DELIVERY_AGE_LIMIT_S = 900
"""The post-call queues' oldest message may be this old (seconds) before the monitor is down.

A delivery that failed is retried by holding the same message back on its queue (``queues.hold_back``,
``delivery/retry.py``), so a healthy retry schedule keeps a message for up to ~33 h (the default schedule's
27.6 h, +20% jitter). SQS's age metric leaves a message out once it has been received three times (it "moves to
the back of the queue"), so a retried delivery counts only until its third attempt: its first two delays (5 s and
300 s, at most 366 s with jitter) plus two attempts (10 s timeout each) and the consumer's polling, about 400 s.
900 s is over twice that; only a receiver's ``Retry-After`` beyond the schedule (Slack's and HubSpot's are
seconds) could hold one longer. Call events are never held back: any age is waiting."""
AGE_METRIC_WINDOW_S = 300
"""How far back the age datapoints are read (one a minute while the queue is active)."""


class Status(IntEnum):
    """Uptime Kuma's heartbeat status codes."""

    DOWN = 0
    UP = 1
    PENDING = 2
    MAINTENANCE = 3


@dataclass(frozen=True)
class CheckResult:
    status: Status
    ping_ms: int | None
    msg: str


@dataclass(frozen=True)
class StatusSettings:
    """What the checks reach, from the environment (``README.md``, "Service status")."""

    public_api_url: str | None
    streaming_health_url: str | None
    streaming_target_group_arn: str | None
    carrier_api_url: str
    delivery_backlog_limit: int
    dialer_backlog_limit: int
    dead_letter_limit: int
    delivery_age_limit_s: int

    @classmethod
    def from_env(cls) -> StatusSettings:
        env = os.environ.get
        return cls(
            public_api_url=(env("PARLEY_PUBLIC_API_URL") or "").rstrip("/") or None,
            streaming_health_url=env("PARLEY_STREAMING_HEALTH_URL") or None,
            streaming_target_group_arn=env("PARLEY_STREAMING_TARGET_GROUP_ARN") or None,
            carrier_api_url=(env("PARLEY_TWILIO_API_URL") or "https://api.twilio.com").rstrip("/"),
            delivery_backlog_limit=int(env("PARLEY_STATUS_DELIVERY_BACKLOG_LIMIT") or 1000),
            dialer_backlog_limit=int(env("PARLEY_STATUS_DIALER_BACKLOG_LIMIT") or 20000),
            dead_letter_limit=int(env("PARLEY_STATUS_DEAD_LETTER_LIMIT") or 0),
            delivery_age_limit_s=int(env("PARLEY_STATUS_DELIVERY_AGE_LIMIT_S") or DELIVERY_AGE_LIMIT_S),
        )


Check = Callable[[StatusSettings], CheckResult]


@dataclass(frozen=True)
class Monitor:
    id: int
    """Stable and small, like Uptime Kuma's ids: never renumber a monitor (its beats are stored under it)."""
    name: str
    checks: str
    """What the monitor checks, in a sentence (``GET /api/status-page/monitors``)."""
    check: Check


def _ms(started: float) -> int:
    return max(0, round((time.monotonic() - started) * 1000))


def never_raises(check: Check) -> Check:
    """A check that raises is down with a generic message; the error's type goes to the log, its text nowhere."""

    @functools.wraps(check)
    def guarded(settings: StatusSettings) -> CheckResult:
        try:
            return check(settings)
        except requests.Timeout:
            return CheckResult(Status.DOWN, None, "timed out")
        except requests.ConnectionError:
            return CheckResult(Status.DOWN, None, "unreachable")
        except Exception as error:  # a check never raises: whatever failed, the monitor is down
            logger.warning("status check failed", extra={"check": check.__name__, "error": type(error).__name__})
            return CheckResult(Status.DOWN, None, "check failed")

    return guarded


def _http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, int]:
    """``GET url`` within the check timeout, redirects not followed: (status code, milliseconds)."""
    started = time.monotonic()
    response = requests.get(url, headers=headers or {}, timeout=(CHECK_TIMEOUT_S, CHECK_TIMEOUT_S),
                            allow_redirects=False)
    response.close()
    return response.status_code, _ms(started)


@never_raises
def rest_api(settings: StatusSettings) -> CheckResult:
    """An authenticated self-call: ``GET /api/v1/agents`` with the probe's own key (an account with no data)."""
    if settings.public_api_url is None:
        return CheckResult(Status.PENDING, None, "not configured")
    api_key = credentials.probe_api_key()
    if api_key is None:
        return CheckResult(Status.PENDING, None, "the probe's API key is not provisioned")
    code, ping = _http_get(f"{settings.public_api_url}/api/v1/agents", {"Authorization": f"Bearer {api_key}"})
    if code == 200:
        return CheckResult(Status.UP, ping, "")
    if code in (401, 403):
        credentials.forget(api_key)  # read (or issued) again next time: a rotated secret, a fresh local stack
        return CheckResult(Status.DOWN, ping, f"the probe's API key was refused (HTTP {code})")
    return CheckResult(Status.DOWN, ping, f"HTTP {code}")


@never_raises
def streaming_service(settings: StatusSettings) -> CheckResult:
    """The service's ``/healthz`` at its internal address, or (in AWS, where the Lambdas are outside the VPC)
    the load balancer's health checks of every task's ``/healthz``."""
    if settings.streaming_health_url is not None:
        code, ping = _http_get(settings.streaming_health_url)
        return CheckResult(Status.UP, ping, "") if code == 200 else CheckResult(Status.DOWN, ping, f"HTTP {code}")
    if settings.streaming_target_group_arn is not None:
        started = time.monotonic()
        described = aws_clients.client("elbv2", config=PROBE_AWS_CONFIG).describe_target_health(
            TargetGroupArn=settings.streaming_target_group_arn)
        states = [target["TargetHealth"]["State"] for target in described["TargetHealthDescriptions"]]
        healthy = states.count("healthy")
        if healthy:
            return CheckResult(Status.UP, _ms(started), f"{healthy} healthy of {len(states)} tasks")
        return CheckResult(Status.DOWN, _ms(started), f"no healthy task ({len(states)} registered)")
    return CheckResult(Status.PENDING, None, "not configured")


def _depth(sqs: Any, name: str) -> int:
    """Messages waiting in a queue (visible; in flight and held back are not a backlog)."""
    attributes = sqs.get_queue_attributes(QueueUrl=queues.queue_url(name),
                                          AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def _oldest_age_s(specs: tuple[queues.QueueSpec, ...]) -> int | None:
    """The oldest message's age over ``specs`` (seconds): each queue's newest ``ApproximateAgeOfOldestMessage``
    datapoint (the minute's maximum), read in one ``GetMetricData`` call; None when no queue has one."""
    now = datetime.now(UTC)
    answer = aws_clients.client("cloudwatch", config=PROBE_AWS_CONFIG).get_metric_data(
        MetricDataQueries=[{
            "Id": f"q{index}",
            "MetricStat": {
                "Metric": {"Namespace": "AWS/SQS", "MetricName": "ApproximateAgeOfOldestMessage",
                           "Dimensions": [{"Name": "QueueName", "Value": queues.queue_name(spec)}]},
                "Period": 60,
                "Stat": "Maximum",
            },
        } for index, spec in enumerate(specs)],
        StartTime=now - timedelta(seconds=AGE_METRIC_WINDOW_S), EndTime=now)
    newest = [max(zip(result["Timestamps"], result["Values"], strict=True))[1]
              for result in answer["MetricDataResults"] if result["Values"]]
    return round(max(newest)) if newest else None


def _queues_check(specs: tuple[queues.QueueSpec, ...], backlog_limit: int, dead_letter_limit: int,
                  dead_letter_specs: tuple[queues.QueueSpec, ...] | None = None,
                  age_limit_s: int | None = None) -> CheckResult:
    """Down when the DLQs of ``dead_letter_specs`` (default: the same queues) hold more than
    ``dead_letter_limit``, the oldest message of ``specs`` is older than ``age_limit_s`` (when given), or their
    backlog is over ``backlog_limit``.

    The age is a CloudWatch metric (not a queue attribute), published only while a queue is active: with no
    datapoint in the last 5 minutes (an idle queue; the local stack's moto has none), the age is not checked and
    the other rules decide.
    """
    sqs = aws_clients.client("sqs", config=PROBE_AWS_CONFIG)
    started = time.monotonic()
    backlog = sum(_depth(sqs, queues.queue_name(spec)) for spec in specs)
    dead = sum(_depth(sqs, queues.dlq_name(spec)) for spec in (specs if dead_letter_specs is None
                                                                  else dead_letter_specs))
    age = _oldest_age_s(specs) if age_limit_s is not None else None
    ping = _ms(started)
    if dead > dead_letter_limit:
        return CheckResult(Status.DOWN, ping, f"{dead} dead-lettered messages")
    if age is not None and age_limit_s is not None and age > age_limit_s:
        return CheckResult(Status.DOWN, ping, f"oldest message {age:,} s old")
    if backlog > backlog_limit:
        return CheckResult(Status.DOWN, ping, f"backlog of {backlog} messages")
    return CheckResult(Status.UP, ping, "")


@never_raises
def post_call_delivery(settings: StatusSettings) -> CheckResult:
    """The call-events and deliveries queues' oldest message age (``delivery_age_limit_s``; skipped without a
    datapoint, see ``_queues_check``) and backlogs, and the call-events dead letters.

    The deliveries DLQ is not counted: a delivery lands there after its last retry when the customer's receiver
    kept refusing it (kept for redrive), which is the receiver's outage, not Parley's.
    """
    return _queues_check((queues.CALL_EVENTS, queues.DELIVERIES), settings.delivery_backlog_limit,
                         settings.dead_letter_limit, dead_letter_specs=(queues.CALL_EVENTS,),
                         age_limit_s=settings.delivery_age_limit_s)


@never_raises
def dialer(settings: StatusSettings) -> CheckResult:
    """The dialer queue: its backlog (contacts waiting to be dialled) and dead letters.

    Not its oldest message's age: the dialer holds contacts back on its queue on purpose (while the campaign's
    call slots are full, outside its daily calling window, until a retry is due), so an old message there is the
    schedule working, not a stall.
    """
    return _queues_check((queues.DIALER,), settings.dialer_backlog_limit, settings.dead_letter_limit)


@never_raises
def dynamodb(_settings: StatusSettings) -> CheckResult:
    """A strongly consistent ``GetItem`` on the small sequences table (the item need not exist)."""
    from chalicelib.db.models import Sequence

    started = time.monotonic()
    aws_clients.client("dynamodb", config=PROBE_AWS_CONFIG).get_item(
        TableName=Sequence.Meta.table_name, Key={"name": {"S": "status-probe"}}, ConsistentRead=True)
    return CheckResult(Status.UP, _ms(started), "")


@never_raises
def carrier_api(settings: StatusSettings) -> CheckResult:
    """Reachability of the carrier's REST API: any HTTP answer below 500 within the timeout is up."""
    code, ping = _http_get(settings.carrier_api_url)
    return CheckResult(Status.UP, ping, "") if code < 500 else CheckResult(Status.DOWN, ping, f"HTTP {code}")


MONITORS: tuple[Monitor, ...] = (
    Monitor(1, "REST API", "An authenticated request to the REST API, as a customer makes it.", rest_api),
    Monitor(2, "Streaming service", "The streaming service's health check (the voice pipeline's servers).",
            streaming_service),
    Monitor(3, "Post-call delivery",
            "The post-call event and delivery queues' oldest message and backlog, and events that could not be "
            "processed.",
            post_call_delivery),
    Monitor(4, "Dialer", "The campaign dialer's queue: backlog and dead letters.", dialer),
    Monitor(5, "DynamoDB", "A strongly consistent read from the database.", dynamodb),
    Monitor(6, "Carrier API", "The telephony carrier's API answers.", carrier_api),
)
