"""Sealed secrets open only for the account that sealed them, with KMS and with the local key."""
from __future__ import annotations

import base64

import boto3
import pytest
from cryptography.exceptions import InvalidTag
from moto import mock_aws

from chalicelib.secrets_box import KmsSecretBox, LocalSecretBox

SECRET = {"auth_token": "twilio-secret-token"}


def test_local_box_round_trips_and_binds_to_the_account() -> None:
    box = LocalSecretBox(base64.b64encode(b"z" * 32).decode())
    blob = box.seal(SECRET, account_id=1)
    assert b"twilio-secret-token" not in blob
    assert box.open(blob, account_id=1) == SECRET
    with pytest.raises(InvalidTag):
        box.open(blob, account_id=2)


@mock_aws
def test_kms_box_uses_the_account_as_encryption_context() -> None:
    kms = boto3.client("kms", region_name="us-east-1")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    box = KmsSecretBox(key_id, client=kms)
    blob = box.seal(SECRET, account_id=7)
    assert b"twilio-secret-token" not in blob
    assert box.open(blob, account_id=7) == SECRET
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        box.open(blob, account_id=8)
