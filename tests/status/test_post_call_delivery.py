"""The post-call delivery monitor: its queues' oldest message age (SQS's CloudWatch metric, read in one call per
probe; skipped while a queue has no datapoint), their backlog, and the call-events dead letters."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.status.monitors import DELIVERY_AGE_LIMIT_S, Status, StatusSettings

SETTINGS = StatusSettings(public_api_url=None, streaming_health_url=None, streaming_target_group_arn=None,
                          carrier_api_url="http://127.0.0.1:9", delivery_backlog_limit=3, dialer_backlog_limit=3,
                          dead_letter_limit=0, delivery_age_limit_s=900)


def _age(spec: Any, seconds: float, minutes_ago: float = 1) -> None:
    """An ``ApproximateAgeOfOldestMessage`` datapoint for ``spec``'s queue, as SQS publishes it."""
    from chalicelib import aws_clients, queues

    aws_clients.client("cloudwatch").put_metric_data(Namespace="AWS/SQS", MetricData=[{
        "MetricName": "ApproximateAgeOfOldestMessage", "Value": seconds, "Unit": "Seconds",
        "Timestamp": datetime.now(UTC) - timedelta(minutes=minutes_ago),
        "Dimensions": [{"Name": "QueueName", "Value": queues.queue_name(spec)}]}])


@pytest.fixture()
def metric_reads(aws: None) -> Iterator[list[dict[str, Any]]]:
    """The ``GetMetricData`` requests the probe's CloudWatch client makes."""
    from chalicelib import aws_clients
    from chalicelib.status.timeouts import PROBE_AWS_CONFIG

    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(params)

    events = aws_clients.client("cloudwatch", config=PROBE_AWS_CONFIG).meta.events
    events.register("provide-client-params.cloudwatch.GetMetricData", record)
    yield calls
    events.unregister("provide-client-params.cloudwatch.GetMetricData", record)


def test_an_old_message_on_a_post_call_queue_is_down_with_its_age_and_no_queue_name(
        metric_reads: list[dict[str, Any]]) -> None:
    from chalicelib import queues
    from chalicelib.status.monitors import post_call_delivery

    _age(queues.CALL_EVENTS, 12)
    _age(queues.DELIVERIES, 1234)

    result = post_call_delivery(SETTINGS)

    assert (result.status, result.msg) == (Status.DOWN, "oldest message 1,234 s old")
    assert len(metric_reads) == 1  # both queues in one GetMetricData call
    (read,) = metric_reads
    queried = {q["MetricStat"]["Metric"]["Dimensions"][0]["Value"] for q in read["MetricDataQueries"]}
    assert queried == {queues.queue_name(queues.CALL_EVENTS), queues.queue_name(queues.DELIVERIES)}
    assert {(q["MetricStat"]["Stat"], q["MetricStat"]["Period"]) for q in read["MetricDataQueries"]} == {
        ("Maximum", 60)}
    assert read["EndTime"] - read["StartTime"] == timedelta(minutes=5)


def test_fresh_messages_are_up_and_the_newest_datapoint_decides(metric_reads: list[dict[str, Any]]) -> None:
    from chalicelib import queues
    from chalicelib.status.monitors import post_call_delivery

    _age(queues.CALL_EVENTS, 5000, minutes_ago=4)  # a stall that has since cleared
    _age(queues.CALL_EVENTS, 30, minutes_ago=1)
    _age(queues.DELIVERIES, 899)

    assert post_call_delivery(SETTINGS).status is Status.UP
    assert len(metric_reads) == 1


def test_without_datapoints_the_age_is_skipped_and_the_backlog_still_counts(
        metric_reads: list[dict[str, Any]]) -> None:
    from chalicelib import queues
    from chalicelib.status.monitors import post_call_delivery

    assert post_call_delivery(SETTINGS).status is Status.UP  # idle queues publish no age: not down
    queues.send_many(queues.DELIVERIES, [{"n": n} for n in range(4)])
    result = post_call_delivery(SETTINGS)
    assert (result.status, result.msg) == (Status.DOWN, "backlog of 4 messages")
    assert len(metric_reads) == 2  # one per probe


def test_the_dialer_does_not_read_the_age(metric_reads: list[dict[str, Any]]) -> None:
    from chalicelib import queues
    from chalicelib.status.monitors import dialer

    _age(queues.DIALER, 86_400)  # contacts held back on purpose

    assert dialer(SETTINGS).status is Status.UP
    assert metric_reads == []


def test_the_default_age_limit_outlasts_a_healthy_deliverys_counted_retries() -> None:
    """SQS stops counting a message's age at its third receive: a retried delivery counts for its first two
    delays (at most jitter) and attempts; the default limit leaves over twice that."""
    from chalicelib.delivery.contract import DeliverySettings

    delivery = DeliverySettings()
    counted = sum(delivery.retry_schedule_s[:2]) * (1 + delivery.jitter) + 2 * delivery.timeout_s
    assert 2 * counted < DELIVERY_AGE_LIMIT_S
    assert StatusSettings.from_env().delivery_age_limit_s == DELIVERY_AGE_LIMIT_S
