"""The SQS queues, each with its dead-letter queue and an alarm on it, from ``chalicelib.queues``.

``chalicelib.queues.ALL_QUEUES`` is the single source of truth: every queue there is created here
under the name the app computes (``queue_name`` / ``dlq_name`` with ``PARLEY_QUEUE_PREFIX`` set to
the stage's prefix), with its visibility timeout and a redrive policy with its ``max_receive_count``.
Nothing about a queue's shape is written here by hand.

Queues are encrypted with SQS-managed keys (SSE-SQS) and refuse requests without TLS. SSE-SQS rather
than a customer-managed KMS key: the messages carry ids (account, campaign, contact line, attempt),
never phone numbers or secrets, and a KMS key would add kms:GenerateDataKey/Decrypt grants to every
sender and consumer (and to the Lambda pollers) for no gain in what an intruder could read.

The call-events queue is fed by an EventBridge rule (``parley_infra.delivery``), which also dead-letters
to its DLQ; the deliveries DLQ also receives what the delivery worker gives up on after its last attempt.

Retention is SQS's maximum (14 days) for queues and DLQs alike: a dial message can wait days for a
scheduled retry (held back in 12-hour steps), and a dead letter should stay long enough to be seen.
SQS keeps a message's original enqueue time when it moves it to a DLQ, so a dead letter expires 14
days after it was first sent.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from chalicelib.queues import ALL_QUEUES, QueueSpec, dlq_name, queue_name

RETENTION = Duration.days(14)


@contextlib.contextmanager
def _queue_prefix(prefix: str) -> Iterator[None]:
    """``chalicelib.queues`` reads the prefix from the environment on every call; pin it briefly."""
    saved = os.environ.get("PARLEY_QUEUE_PREFIX")
    os.environ["PARLEY_QUEUE_PREFIX"] = prefix
    try:
        yield
    finally:
        if saved is None:
            del os.environ["PARLEY_QUEUE_PREFIX"]
        else:
            os.environ["PARLEY_QUEUE_PREFIX"] = saved


def queue_names(spec: QueueSpec, prefix: str) -> tuple[str, str]:
    """(queue name, DLQ name) exactly as the app computes them with ``PARLEY_QUEUE_PREFIX=prefix``."""
    with _queue_prefix(prefix):
        return queue_name(spec), dlq_name(spec)


@dataclass(frozen=True)
class ParleyQueue:
    """One app queue, its DLQ and the alarm on the DLQ."""

    spec: QueueSpec
    queue: sqs.Queue
    dead_letters: sqs.Queue
    alarm: cloudwatch.Alarm
    name: str
    """The queue's physical name (the DLQ's is ``dlq_name``)."""


class ParleyQueues(Construct):
    """Every queue in ``ALL_QUEUES`` for one stage (``prefix``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        prefix: str,
        specs: Iterable[QueueSpec] = ALL_QUEUES,
        alarm_topic_arn: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.prefix = prefix
        alarm_topic = sns.Topic.from_topic_arn(self, "AlarmTopic", alarm_topic_arn) if alarm_topic_arn else None
        self.queues: dict[str, ParleyQueue] = {}
        for spec in specs:
            if spec.key in self.queues:
                raise ValueError(f"two queues with key {spec.key!r}")
            self.queues[spec.key] = self._queue(spec, alarm_topic)

    def _queue(self, spec: QueueSpec, alarm_topic: sns.ITopic | None) -> ParleyQueue:
        name, dlq_physical_name = queue_names(spec, self.prefix)
        construct_id = "".join(part.capitalize() for part in spec.key.split("-"))
        dead_letters = sqs.Queue(
            self,
            f"{construct_id}DeadLetters",
            queue_name=dlq_physical_name,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        queue = sqs.Queue(
            self,
            f"{construct_id}Queue",
            queue_name=name,
            visibility_timeout=Duration.seconds(spec.visibility_timeout),
            dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letters, max_receive_count=spec.max_receive_count),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        alarm = cloudwatch.Alarm(
            self,
            f"{construct_id}DeadLettersAlarm",
            alarm_name=f"{dlq_physical_name}-not-empty",
            alarm_description=(
                f"Messages of {name} ({spec.description}) failed {spec.max_receive_count} receives and "
                f"are waiting in {dlq_physical_name}: look at the consumer's logs, then redrive or delete them."
            ),
            metric=dead_letters.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic=cloudwatch.Stats.MAXIMUM
            ),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        if alarm_topic is not None:
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(alarm_topic))
        return ParleyQueue(spec=spec, queue=queue, dead_letters=dead_letters, alarm=alarm, name=name)

    def get(self, spec: QueueSpec) -> ParleyQueue:
        return self.queues[spec.key]

    def by_name(self, name: str) -> ParleyQueue | None:
        """The queue with physical name ``name`` (as in a Chalice event source), if it is one of ours."""
        return next((queue for queue in self.queues.values() if queue.name == name), None)

    def arns(self, specs: Iterable[QueueSpec] | None = None) -> list[str]:
        """ARNs of the given queues (all by default); never the DLQs (see ``parley_infra.permissions``)."""
        chosen = list(specs) if specs is not None else [q.spec for q in self.queues.values()]
        return [self.get(spec).queue.queue_arn for spec in chosen]
