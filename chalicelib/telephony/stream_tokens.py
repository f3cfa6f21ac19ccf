"""Signed, expiring tokens that let a carrier's media stream join one call.

The token travels as a ``<Parameter>`` of the TwiML ``<Stream>``; the streaming service accepts the
stream only if the token's HMAC matches, it names the same call, and it has not expired.
"""
from __future__ import annotations

import os
from functools import lru_cache

from chalicelib import signed_tokens


def issue(secret: str, account_id: int, call_id: int, ttl_seconds: int = 3600, now: float | None = None) -> str:
    return signed_tokens.issue(secret, {"a": account_id, "c": call_id}, ttl_seconds, now=now)


def verify(secret: str, token: str, call_id: int, now: float | None = None) -> dict | None:
    """The token's claims if it is authentic, for ``call_id`` and unexpired; otherwise None.

    Any malformed token (not ASCII, not ``payload.signature``, bad base64 or JSON) is simply not authentic.
    """
    claims = signed_tokens.verify(secret, token, now=now)
    if claims is None or claims.get("c") != call_id:
        return None
    return claims


def configured_secret() -> str:
    """The secret stream tokens are signed with: ``PARLEY_STREAM_TOKEN_SECRET``, or (deployments keep it out of
    the environment) the Secrets Manager secret ``PARLEY_STREAM_TOKEN_SECRET_ARN`` names; "" when neither is set."""
    arn = os.environ.get("PARLEY_STREAM_TOKEN_SECRET_ARN", "")
    return os.environ.get("PARLEY_STREAM_TOKEN_SECRET") or secret_value(arn)


@lru_cache(maxsize=4)
def secret_value(arn: str) -> str:
    """A Secrets Manager secret's string, read once per process."""
    if not arn:
        return ""
    from chalicelib import aws_clients

    return aws_clients.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
