"""Signed, expiring tokens that let a carrier's media stream join one call.

The token travels as a ``<Parameter>`` of the TwiML ``<Stream>``; the streaming service accepts the
stream only if the token's HMAC matches, it names the same call, and it has not expired.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from functools import lru_cache


def issue(secret: str, account_id: int, call_id: int, ttl_seconds: int = 3600, now: float | None = None) -> str:
    claims = {"a": account_id, "c": call_id, "exp": int((now or time.time()) + ttl_seconds)}
    payload = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).decode().rstrip("=")
    return f"{payload}.{_sign(secret, payload)}"


def verify(secret: str, token: str, call_id: int, now: float | None = None) -> dict | None:
    """The token's claims if it is authentic, for ``call_id`` and unexpired; otherwise None.

    Any malformed token (not ASCII, not ``payload.signature``, bad base64 or JSON) is simply not authentic.
    """
    token = token or ""
    if not token.isascii():  # tokens are base64url; compare_digest refuses non-ASCII str (TypeError)
        return None
    payload, _, signature = token.partition(".")
    if not payload or not hmac.compare_digest(signature, _sign(secret, payload)):
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return None
    if claims.get("c") != call_id or claims.get("exp", 0) < (now or time.time()):
        return None
    return claims


def _sign(secret: str, payload: str) -> str:
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


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
