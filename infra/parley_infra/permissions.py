"""Least-privilege IAM for the Lambdas: one role per kind of function, no wildcard resources.

Table access lists each table's ARN and each index's ARN by name (taken from the models), so a role
can reach exactly the Parley tables it is given and nothing else in the account.
"""
from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
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


def allow_secret_sealing(role: iam.IRole, secrets_key: kms.IKey) -> None:
    """Encrypt/Decrypt with the secrets key, only with an account-bound encryption context."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["kms:Encrypt", "kms:Decrypt"],
            resources=[secrets_key.key_arn],
            conditions={
                "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": [SECRET_CONTEXT_KEY]},
                "Null": {"kms:EncryptionContextKeys": "false"},
            },
        )
    )
