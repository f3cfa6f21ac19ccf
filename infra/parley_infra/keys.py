"""Customer-managed KMS keys: one seals customer secrets in the app, one encrypts the tables at rest,
one encrypts the call recordings and transcripts in S3.

Separate keys keep the uses apart. The secrets key is called directly by the API Lambda (``KmsSecretBox``,
always with a ``parley:account_id`` encryption context); the data key is only ever used by DynamoDB
on the caller's behalf. Either can be audited, disabled or have its policy tightened without touching
the other. Customer-managed rather than AWS-managed keys because the tables hold customer data
(phone numbers, call records): we own the key policy, every use is in CloudTrail against our key, and
disabling the key is a way to cut off access to the data. Both rotate yearly and are retained when
the stack goes, since deleting a key makes everything it encrypted unreadable. The recordings key is
only used by S3 on the streaming service's behalf (voices and transcripts are the most sensitive data
Parley holds, so they get a key of their own that can be cut off alone). Accounts' web search API keys
(Tavily, Exa) are sealed with a key of their own too, the only one the streaming service may decrypt with (it
opens an account's search keys for a call): it can open nothing else sealed (carrier tokens, channel credentials).
"""
from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import RemovalPolicy
from aws_cdk import aws_kms as kms
from constructs import Construct

from parley_infra.settings import StageSettings


@dataclass(frozen=True)
class ParleyKeys:
    """The stage's customer-managed keys."""

    secrets: kms.Key
    data: kms.Key
    recordings: kms.Key
    search_keys: kms.Key


def create_keys(scope: Construct, settings: StageSettings) -> ParleyKeys:
    """Create the stage's secrets, table data, recordings and search keys keys, with rotation on."""
    return ParleyKeys(
        secrets=_key(
            scope, "SecretsKey", settings, "secrets", "Seals customer secrets (carrier tokens, webhook secrets)"
        ),
        data=_key(scope, "DataKey", settings, "tables", "Encrypts the DynamoDB tables at rest"),
        recordings=_key(
            scope, "RecordingsKey", settings, "recordings", "Encrypts call recordings and transcripts in S3"
        ),
        search_keys=_key(
            scope, "SearchKeysKey", settings, "search-keys",
            "Seals accounts' web search API keys (opened by the streaming service for calls)",
        ),
    )


def _key(scope: Construct, construct_id: str, settings: StageSettings, alias: str, description: str) -> kms.Key:
    return kms.Key(
        scope,
        construct_id,
        description=f"Parley {settings.stage}: {description}",
        alias=f"alias/{settings.resource_name(alias)}",
        enable_key_rotation=True,
        removal_policy=RemovalPolicy.RETAIN,
    )
