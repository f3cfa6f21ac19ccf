"""Least-privilege IAM for the Lambdas: one role per function, no wildcard resources.

Table access lists each table's ARN and each index's ARN by name (taken from the models), so a role
can reach exactly the Parley tables it is given and nothing else in the account. Queue access lists
the queues' ARNs: senders may only send (and look up the URL), a consumer may receive, delete and
hold back messages of its own queue only. The dead-letter queues are written by SQS (redrive) and, for
call-events, by EventBridge (the rule's target DLQ, a queue policy bound to the rule); the one role that
may send to a DLQ is the delivery worker's, to the deliveries DLQ only (``allow_dead_letter_sends``): it
dead-letters a delivery itself after its last attempt. No role receives from a DLQ (redrives are an
operator's job).
"""
from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

TABLE_READ_WRITE: tuple[str, ...] = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
)
"""What PynamoDB needs for item reads and writes, queries and TransactWriteItems (which IAM checks
per item as Put/Update/Delete/ConditionCheck). No Scan: every access is keyed by tenant."""

TABLE_GET_ITEM: tuple[str, ...] = ("dynamodb:GetItem",)

TABLE_PUT: tuple[str, ...] = ("dynamodb:PutItem",)

TABLE_DELETE: tuple[str, ...] = ("dynamodb:DeleteItem",)

TABLE_READ: tuple[str, ...] = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:DescribeTable")

TABLE_READ_UPDATE: tuple[str, ...] = (*TABLE_READ, "dynamodb:UpdateItem")
"""Read, and change attributes of existing items (no put or delete)."""

_READS = frozenset({"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:DescribeTable"})

_TABLE_KEY_READ: tuple[str, ...] = ("kms:Decrypt", "kms:DescribeKey")
_TABLE_KEY_WRITE: tuple[str, ...] = (
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
)
"""The table key's operations, spelled out (no ``kms:ReEncrypt*`` / ``kms:GenerateDataKey*``)."""

QUEUE_SEND: tuple[str, ...] = ("sqs:SendMessage", "sqs:GetQueueUrl")
"""``chalicelib.queues.send``/``send_many`` look the URL up, then SendMessage(Batch) (authorized as
SendMessage)."""

QUEUE_CONSUME: tuple[str, ...] = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueUrl",
)
"""The Lambda event source mapping polls with the function's role (Receive, Delete, GetQueueAttributes);
``chalicelib.queues.hold_back`` looks the queue's URL up and changes a received message's visibility (a
consumer may have no send permission on its own queue, e.g. the delivery worker)."""

EMAIL_SEND: tuple[str, ...] = ("ses:SendEmail", "ses:SendRawEmail")
"""SES v1 ``SendEmail`` / ``SendRawEmail`` and SES v2 ``SendEmail`` (authorized as ``ses:SendEmail``)."""

SECRET_CONTEXT_KEY = "parley:account_id"
"""The encryption-context key ``chalicelib.secrets_box`` binds every sealed secret to."""


def lambda_role(scope: Construct, construct_id: str, description: str) -> iam.Role:
    """A Lambda execution role with no permissions yet (no AWS managed policies)."""
    return iam.Role(
        scope,
        construct_id,
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=description,
    )


def allow_logging(role: iam.IRole, log_group: logs.ILogGroup) -> None:
    """Write to the function's own, pre-created log group (and no other)."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[log_group.log_group_arn],
        )
    )


def allow_tables(role: iam.IRole, actions: Sequence[str], table_arns: Sequence[str], data_key: kms.IKey) -> None:
    """``actions`` on exactly ``table_arns``, plus use of the tables' key through DynamoDB only.

    The key permissions follow the table access: readers may only decrypt.
    """
    role.add_to_principal_policy(iam.PolicyStatement(actions=list(actions), resources=list(table_arns)))
    writes = any(action not in _READS for action in actions)
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=[*_TABLE_KEY_READ, *(_TABLE_KEY_WRITE if writes else ())],
            resources=[data_key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"dynamodb.{Stack.of(data_key).region}.amazonaws.com"}},
        )
    )


def allow_secret_sealing(role: iam.IRole, secrets_key: kms.IKey, *, seal: bool = True) -> None:
    """Decrypt (and with ``seal``, Encrypt) with the secrets key, only with an account-bound context."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["kms:Encrypt", "kms:Decrypt"] if seal else ["kms:Decrypt"],
            resources=[secrets_key.key_arn],
            conditions={
                "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": [SECRET_CONTEXT_KEY]},
                "Null": {"kms:EncryptionContextKeys": "false"},
            },
        )
    )


def allow_queue_sends(role: iam.IRole, queue_arns: Sequence[str]) -> None:
    """Send to (and look up) exactly ``queue_arns``."""
    role.add_to_principal_policy(iam.PolicyStatement(actions=list(QUEUE_SEND), resources=list(queue_arns)))


def allow_queue_consumption(role: iam.IRole, queue_arn: str) -> None:
    """Receive, delete and hold back messages of one queue (what its event source mapping needs)."""
    role.add_to_principal_policy(iam.PolicyStatement(actions=list(QUEUE_CONSUME), resources=[queue_arn]))


def allow_secret_read(role: iam.IRole, secret: secretsmanager.ISecret) -> None:
    """Read one Secrets Manager secret's value (encrypted with the AWS managed key: no KMS grant)."""
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[secret.secret_arn])
    )


def allow_dead_letter_sends(role: iam.IRole, dead_letter_queue_arn: str) -> None:
    """Send to (and look up) one dead-letter queue: for a consumer that dead-letters messages itself."""
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=list(QUEUE_SEND), resources=[dead_letter_queue_arn])
    )


def allow_event_puts(role: iam.IRole, event_bus_arn: str) -> None:
    """Put events on exactly one bus."""
    role.add_to_principal_policy(iam.PolicyStatement(actions=["events:PutEvents"], resources=[event_bus_arn]))


def allow_email_sending(role: iam.IRole, identity_arns: Sequence[str], from_address: str) -> None:
    """Send email through SES as ``from_address`` only, with the identities that can verify it.

    SES checks the sending identity's ARN and, with ``ses:FromAddress``, the message's From address. In
    the SES sandbox it also checks the (verified) recipients' identities, which this grant leaves out:
    a stage that sends email needs production access, or a test recipient identity granted by hand.
    """
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=list(EMAIL_SEND),
            resources=list(identity_arns),
            conditions={"StringEquals": {"ses:FromAddress": from_address}},
        )
    )
