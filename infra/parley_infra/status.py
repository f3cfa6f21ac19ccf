"""The service status probe's deployment (``chalicelib.status``): its environment and permissions, and the
secret that holds its API key.

The probe (``StatusProbe``, every minute) checks:

- the REST API with an authenticated self-call, using the key of a dedicated account that holds no data. The
  key lives in ``StatusProbeKey`` (Secrets Manager), created here with a placeholder; an operator fills it once
  (README, "Service status"). The probe only reads that one secret: no Lambda may write API keys.
- the streaming service through its load balancer's target health: the tasks sit in private subnets and the
  Lambdas outside the VPC, and the public listener forwards only ``/twilio`` and ``/web/offer``, so the probe
  cannot reach ``/healthz`` itself; the load balancer checks every task's ``/healthz`` every 10 s and the probe
  reads the result. ``elasticloadbalancing:DescribeTargetHealth`` has no resource-level permissions (``*``).
- the post-call and dialer queues' depths (``sqs:GetQueueAttributes`` on those queues and their DLQs), and the
  post-call queues' oldest message age, a CloudWatch metric (``cloudwatch:GetMetricData``, which has no
  resource-level permissions either: ``*``);
- a consistent read of the sequences table, and the carrier API over the internet.

It writes its beats to the ``StatusBeat`` table, which the API handler reads for the public heartbeat.
"""
from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from chalicelib.queues import CALL_EVENTS, DELIVERIES, DIALER
from parley_infra.permissions import TABLE_GET_ITEM, allow_secret_read, allow_tables
from parley_infra.queues import ParleyQueues
from parley_infra.settings import StageSettings
from parley_infra.tables import ParleyTables

STATUS_PROBE = "StatusProbe"
"""Chalice's logical id for ``app.py``'s ``status_probe`` schedule."""
PROBE_TIMEOUT_S = 30
"""The probe bounds its checks to 8 s; the function gets room for its cold start and the batch write."""
KEY_SECRET_VARIABLE = "PARLEY_STATUS_KEY_SECRET_ARN"
TARGET_GROUP_VARIABLE = "PARLEY_STREAMING_TARGET_GROUP_ARN"
PROBED_QUEUES = (DIALER, CALL_EVENTS, DELIVERIES)
QUEUE_ATTRIBUTES: tuple[str, ...] = ("sqs:GetQueueAttributes", "sqs:GetQueueUrl")
BEAT_WRITES: tuple[str, ...] = ("dynamodb:PutItem", "dynamodb:BatchWriteItem")
TARGET_HEALTH = "elasticloadbalancing:DescribeTargetHealth"
METRIC_DATA = "cloudwatch:GetMetricData"


def create_key_secret(scope: Construct, settings: StageSettings) -> secretsmanager.Secret:
    """The probe's API key, a placeholder (not a key: the REST API monitor stays pending) until filled."""
    return secretsmanager.Secret(
        scope,
        "StatusProbeKey",
        description=f"Parley {settings.stage}: the status probe's API key (an account with no data); "
        "put a key from 'python -m cli.accounts create \"Status probe\"' here",
        generate_secret_string=secretsmanager.SecretStringGenerator(
            password_length=32, exclude_punctuation=True, include_space=False
        ),
        removal_policy=RemovalPolicy.DESTROY,
    )


def probe_environment(key_secret: secretsmanager.ISecret, target_group_arn: str) -> Mapping[str, str]:
    return {KEY_SECRET_VARIABLE: key_secret.secret_arn, TARGET_GROUP_VARIABLE: target_group_arn}


def grant_probe(role: iam.IRole, *, tables: ParleyTables, queues: ParleyQueues,
                key_secret: secretsmanager.ISecret, data_key: kms.IKey) -> None:
    """What the probe's checks read and the beats it writes; nothing else."""
    from chalicelib.db.models import Sequence, StatusBeat

    allow_tables(role, BEAT_WRITES, tables.arns([StatusBeat]), data_key)
    allow_tables(role, TABLE_GET_ITEM, tables.arns([Sequence]), data_key)  # the DynamoDB check
    probed = [queues.get(spec) for spec in PROBED_QUEUES]
    role.add_to_principal_policy(iam.PolicyStatement(
        actions=list(QUEUE_ATTRIBUTES),
        resources=[arn for q in probed for arn in (q.queue.queue_arn, q.dead_letters.queue_arn)]))
    allow_secret_read(role, key_secret)
    role.add_to_principal_policy(iam.PolicyStatement(actions=[TARGET_HEALTH], resources=["*"]))
    role.add_to_principal_policy(iam.PolicyStatement(actions=[METRIC_DATA], resources=["*"]))
