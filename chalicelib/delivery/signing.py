"""Standard Webhooks signatures (https://www.standardwebhooks.com/), so receivers can use any
Standard Webhooks / Svix library to verify what we send.

The signed content is ``f"{webhook-id}.{webhook-timestamp}.{body}"``; the signature is
``v1,<base64 HMAC-SHA256>`` keyed with the bytes of the secret: the base64 after ``whsec_``.

Secret format: new secrets are ``whsec_`` + standard base64 of 32 random bytes, which is what the
reference libraries decode. Secrets issued before that change were ``whsec_`` + *URL-safe* base64
(``-`` and ``_``); those are decoded with the URL-safe alphabet here (the bytes they stand for).
A secret using neither ``-`` nor ``_`` reads the same in both alphabets, so there is no ambiguity.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Iterable

SECRET_PREFIX = "whsec_"


def secret_key(secret: str) -> bytes:
    """The HMAC key a ``whsec_`` secret stands for (padding optional, like the reference libraries)."""
    encoded = secret.removeprefix(SECRET_PREFIX).strip()
    padded = encoded + "=" * (-len(encoded) % 4)
    try:
        key = base64.b64decode(padded, validate=True)
    except binascii.Error:
        try:
            key = base64.urlsafe_b64decode(padded)
        except (binascii.Error, ValueError):
            raise ValueError("the signing secret is not base64 after whsec_") from None
    if not key:
        raise ValueError("the signing secret is empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}.{body}">`` with the secret's key."""
    signed = f"{msg_id}.{int(timestamp)}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(secret: str | Iterable[str], msg_id: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``.

    ``secret`` may be several secrets (rotation): one signature per secret, space-separated, in
    the order given, so a receiver holding either the new or the old secret verifies the message."""
    secrets = [secret] if isinstance(secret, str) else [s for s in secret if s]
    if not secrets:
        raise ValueError("at least one signing secret is needed")
    timestamp = int(time.time() if now is None else now)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, msg_id, timestamp, body) for s in secrets),
    }
